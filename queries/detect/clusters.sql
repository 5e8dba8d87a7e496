-- clusters: many users looping at the same time on the same app, OS family and client: the tenant-wide
-- incident (the Outlook mobile loops of 2026), as opposed to one user's broken device.
-- Reauth loops with one signature form a cluster while they overlap in time (allowing a gap); the cluster
-- counts when enough distinct users are in it. Its core ends when the users looping at once fall below a
-- fraction of the peak; users still looping well after that are listed, since they are the ones an admin
-- must still fix (revoke sessions, re-register the device) after the service recovered.
-- Only reauth_loop loops form clusters: MFA-denial and failure bursts across many users are an attack
-- campaign, triaged elsewhere.
-- @param cluster_gap_secs INTEGER = 900 : loops on one signature less than 15 min apart belong to one incident
-- @param min_cluster_users INTEGER = 10 : 10 users looping on one app at once is an incident, not a device fault
-- @param cluster_end_fraction DOUBLE = 0.25 : the core ends when fewer than a quarter of the peak users are still looping
-- @param straggler_grace_secs INTEGER = 600 : users looping 10 min after the core ended are stragglers

with candidates as (
    select *
    from loops
    where kind = 'reauth_loop'
),

islands as (
    select
        *,
        case
            when max("end") over prior is null then 1
            when start > max("end") over prior + to_seconds($cluster_gap_secs) then 1
            else 0
        end as starts_island
    from candidates
    window prior as (
        partition by app_key, os_family, client_app_used
        order by start, loop_id
        rows between unbounded preceding and 1 preceding
    )
),

island_numbered as (
    select
        *,
        sum(starts_island) over (
            partition by app_key, os_family, client_app_used order by start, loop_id rows unbounded preceding
        ) as island_no
    from islands
),

sized as (
    select
        app_key,
        os_family,
        client_app_used,
        island_no,
        min(start) as start,
        count(distinct user_key) as user_count
    from island_numbered
    group by all
    having count(distinct user_key) >= $min_cluster_users
),

members as (
    select
        'cluster-' || substr(md5(concat_ws('|', sized.app_key, sized.os_family, sized.client_app_used, strftime(sized.start, '%Y-%m-%dT%H:%M:%S.%f'))), 1, 16) as cluster_id,
        island_numbered.*
    from island_numbered
    join sized using (app_key, os_family, client_app_used, island_no)
),

-- how many users were looping in each minute of the cluster
minutes as (
    select cluster_id, minute, count(distinct user_key) as looping_users
    from (
        select cluster_id, user_key, unnest(range(date_trunc('minute', start), "end" + interval 1 minute, interval 1 minute)) as minute
        from members
    )
    group by all
),

peaks as (
    select
        cluster_id,
        max(looping_users) as peak_users,
        -- the earliest of equally busy minutes, so the answer does not depend on row order
        first(minute order by looping_users desc, minute) as peak_at
    from minutes
    group by cluster_id
),

core_end as (
    select
        minutes.cluster_id,
        max(minutes.minute) + interval 1 minute as core_end
    from minutes
    join peaks using (cluster_id)
    where minutes.looping_users >= greatest(1, ceil(peaks.peak_users * $cluster_end_fraction))
    group by minutes.cluster_id
),

code_counts as (
    select cluster_id, code, count(*) as n
    from (select cluster_id, unnest(error_codes) as code from members)
    group by all
)

select
    members.cluster_id,
    min(members.start) as start,
    any_value(core_end.core_end) as core_end,
    max(members."end") as "end",
    any_value(peaks.peak_at) as peak_at,
    any_value(peaks.peak_users) as peak_users,
    count(distinct members.user_key) as user_count,
    count(*) as loop_count,
    sum(members.prompt_count) as prompt_count,
    any_value(members.tenant_id) as tenant_id,
    members.app_key,
    mode(members.app_id) as app_id,
    mode(members.app_display_name) as app_display_name,
    members.os_family,
    mode(members.device_os) as device_os,
    members.client_app_used,
    -- a cluster of loops that only ever succeeded has no codes: an empty list, not NULL
    coalesce((select list(code order by n desc, code) from code_counts where code_counts.cluster_id = members.cluster_id), []) as error_codes,
    list(members.loop_id order by members.start, members.loop_id) as loop_ids,
    list(distinct members.user_principal_name order by members.user_principal_name)
        filter (where members."end" > core_end.core_end + to_seconds($straggler_grace_secs)) as users_still_looping
from members
join core_end using (cluster_id)
join peaks using (cluster_id)
group by members.cluster_id, members.app_key, members.os_family, members.client_app_used
