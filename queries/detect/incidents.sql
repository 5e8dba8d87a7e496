-- incidents: tenant-wide incidents (the Outlook loops of 2026): many users looping *at the same time*, as
-- opposed to one user's broken device, or unrelated loops one after another over hours.
-- Concurrency is measured per minute and per signature (app, OS family, client): the number of distinct
-- users with a reauth_loop episode spanning that minute (from the minute of its first prompt to the minute
-- of its last; a pause inside an episode counts as looping). A minute with at least min_cluster_users such
-- users is hot; hot minutes of one signature less than cluster_gap_secs apart form one *part*, whose core
-- runs from its first hot minute to the end of its last. A part's members are the episodes of its signature
-- that overlap its core. Parts whose cores overlap in time are one incident (Outlook Mobile on iOS and
-- Android and Outlook for Mac failing together), with a part per signature; the incident's top-level app,
-- OS and client are its largest part's.
-- Who is still looping is each member's status (episodes.sql), as of the newest sign-in: the one definition
-- the report, the remediation list and the alerts use too.
-- Only reauth_loop episodes form clusters: MFA-denial and failure bursts across many users are an attack
-- campaign, triaged elsewhere; silent loops are listed on their own.
-- @param min_cluster_users INTEGER = 10 : 10 users looping on one app in the same minute is an incident, not a device fault
-- @param cluster_gap_secs INTEGER = 900 : busy minutes of one signature less than 15 min apart belong to one part
-- @param straggler_grace_secs INTEGER = 600 : a member still looping 10 min after its incident's core ended is a straggler (report/remediation.sql)
-- cluster_id here is natural (its first part and busy minute); clusters.sql gives it its stable id.

with candidates as (
    select
        *,
        concat_ws('|', app_key, os_family, coalesce(client_app_used, '')) as signature
    from loops
    where kind = 'reauth_loop'
),

episode_minutes as (
    select
        signature,
        loop_id,
        user_key,
        unnest(range(date_trunc('minute', start), date_trunc('minute', "end") + interval 1 minute, interval 1 minute)) as minute
    from candidates
),

looping_minutes as (
    select signature, minute, count(distinct user_key) as looping_users
    from episode_minutes
    group by all
),

hot_minutes as (
    select
        *,
        case
            when lag(minute) over signature_order is null then 1
            when minute - lag(minute) over signature_order > to_seconds($cluster_gap_secs) then 1
            else 0
        end as starts_part
    from looping_minutes
    where looping_users >= $min_cluster_users
    window signature_order as (partition by signature order by minute)
),

part_spans as (
    select
        signature,
        part_no,
        min(minute) as core_start,
        max(minute) + interval 1 minute as core_end
    from (
        select *, sum(starts_part) over (partition by signature order by minute rows unbounded preceding) as part_no
        from hot_minutes
    )
    group by all
),

-- each episode belongs to the first part of its signature it overlaps, so no loop is in two incidents
members as (
    select part_spans.part_no, part_spans.core_start, part_spans.core_end, candidates.*
    from candidates
    join part_spans
        on part_spans.signature = candidates.signature
        and candidates.start < part_spans.core_end
        and candidates."end" >= part_spans.core_start
    qualify row_number() over (partition by candidates.loop_id order by part_spans.core_start) = 1
),

-- parts whose cores overlap form one incident: a new incident starts where no earlier core reaches
part_marks as (
    select
        *,
        case
            when max(core_end) over prior is null then 1
            when core_start >= max(core_end) over prior then 1
            else 0
        end as starts_incident
    from part_spans
    window prior as (order by core_start, signature, part_no rows between unbounded preceding and 1 preceding)
),

parts as (
    select
        *,
        sum(starts_incident) over (order by core_start, signature, part_no rows unbounded preceding) as incident_no
    from part_marks
),

incident_ids as (
    select
        incident_no,
        'cluster-' || substr(md5(concat_ws('|', arg_min(signature, (core_start, signature)), strftime(min(core_start), '%Y-%m-%dT%H:%M:%S.%f'))), 1, 16) as cluster_id
    from parts
    group by incident_no
),

part_members as (
    select incident_ids.cluster_id, parts.incident_no, members.*
    from members
    join parts using (signature, part_no)
    join incident_ids using (incident_no)
),

-- peak concurrency, per part and per incident (a user is counted once a minute even on two apps)
member_minutes as (
    select part_members.cluster_id, part_members.signature, episode_minutes.minute, episode_minutes.user_key
    from part_members
    join episode_minutes using (loop_id)
),

part_peaks as (
    select cluster_id, signature, max(n) as peak_users, arg_max(minute, (n, -epoch(minute))) as peak_at
    from (select cluster_id, signature, minute, count(distinct user_key) as n from member_minutes group by all)
    group by all
),

incident_peaks as (
    select cluster_id, max(n) as peak_users, arg_max(minute, (n, -epoch(minute))) as peak_at
    from (select cluster_id, minute, count(distinct user_key) as n from member_minutes group by all)
    group by all
),

part_rows as (
    select
        part_members.cluster_id,
        part_members.signature,
        any_value(part_members.core_start) as core_start,
        any_value(part_members.core_end) as core_end,
        min(part_members.start) as start,
        max(part_members."end") as "end",
        count(distinct part_members.user_key) as user_count,
        count(*) as loop_count,
        sum(part_members.prompt_count)::BIGINT as prompt_count,
        any_value(part_members.app_key) as app_key,
        mode(part_members.app_id) as app_id,
        mode(part_members.app_display_name) as app_display_name,
        any_value(part_members.os_family) as os_family,
        mode(part_members.device_os) as device_os,
        any_value(part_members.client_app_used) as client_app_used
    from part_members
    group by part_members.cluster_id, part_members.signature
),

parts_described as (
    select part_rows.*, part_peaks.peak_users, part_peaks.peak_at
    from part_rows
    join part_peaks using (cluster_id, signature)
),

code_counts as (
    select cluster_id, code, count(*) as n
    from (select cluster_id, unnest(error_codes) as code from part_members)
    group by all
),

incident_members as (
    select
        cluster_id,
        min(start) as start,
        max("end") as "end",
        count(distinct user_key) as user_count,
        count(*) as loop_count,
        sum(prompt_count)::BIGINT as prompt_count,
        any_value(tenant_id) as tenant_id,
        list(loop_id order by start, loop_id) as loop_ids,
        list(distinct user_principal_name order by user_principal_name) filter (where status = 'looping') as users_still_looping,
        list(distinct user_principal_name order by user_principal_name) filter (where status = 'stopped_after_revocation') as users_stopped_after_revocation
    from part_members
    group by cluster_id
)

select
    incident_members.cluster_id,
    incident_members.start,
    (select min(core_start) from parts_described p where p.cluster_id = incident_members.cluster_id) as core_start,
    (select max(core_end) from parts_described p where p.cluster_id = incident_members.cluster_id) as core_end,
    incident_members."end",
    incident_peaks.peak_at,
    incident_peaks.peak_users,
    incident_members.user_count,
    incident_members.loop_count,
    incident_members.prompt_count,
    incident_members.tenant_id,
    -- the largest part names the incident
    largest.app_key,
    largest.app_id,
    largest.app_display_name,
    largest.os_family,
    largest.device_os,
    largest.client_app_used,
    -- a cluster of loops that only ever succeeded has no codes: an empty list, not NULL
    coalesce((select list(code order by n desc, code) from code_counts where code_counts.cluster_id = incident_members.cluster_id), []) as error_codes,
    incident_members.loop_ids,
    incident_members.users_still_looping,
    incident_members.users_stopped_after_revocation,
    (
        select list({
            'app_id': p.app_id, 'app_display_name': p.app_display_name, 'os_family': p.os_family,
            'device_os': p.device_os, 'client_app_used': p.client_app_used,
            'start': p.start, 'core_start': p.core_start, 'core_end': p.core_end, 'end': p."end",
            'peak_at': p.peak_at, 'peak_users': p.peak_users, 'user_count': p.user_count,
            'loop_count': p.loop_count, 'prompt_count': p.prompt_count
        } order by p.user_count desc, p.core_start, p.signature)
        from parts_described p
        where p.cluster_id = incident_members.cluster_id
    ) as parts
from incident_members
join incident_peaks using (cluster_id)
join (
    select * from parts_described
    qualify row_number() over (partition by cluster_id order by user_count desc, core_start, signature) = 1
) as largest using (cluster_id)
