-- remediation: per tenant-wide cluster, each user caught in it, with what an admin needs to decide whether
-- to revoke their sessions (Microsoft Graph revokeSignInSessions, Revoke-MgUserSignInSession -UserId):
-- how many loops and prompts, the first and last prompt, how many prompts came after the cluster's core
-- ended (the service recovered but this user did not), whether they are a straggler (a loop still running
-- straggler_grace_secs, declared in detect/incidents.sql, after the core ended), and whether they stopped.
-- Whether a user is still looping is their loops' status (detect/episodes.sql), as of the period's newest
-- sign-in: the same answer the cluster's users_still_looping and the alerts give. A user whose loop ended
-- after an admin revoked their sessions is stopped_after_revocation, and not listed for revocation again.

with members as (
    select cluster_id, core_end, unnest(loop_ids) as loop_id
    from clusters
),

member_loops as (
    select members.cluster_id, members.core_end, loops.*
    from members
    join loops using (loop_id)
),

users as (
    select
        cluster_id,
        user_key,
        any_value(core_end) as core_end,
        -- the latest loop's values: what the user runs now
        arg_max(user_id, start) as user_id,
        arg_max(user_principal_name, start) as user_principal_name,
        arg_max(app_display_name, start) as app_display_name,
        arg_max(device_os, start) as device_os,
        count(*) as loops,
        sum(prompt_count)::bigint as prompts,
        min(start) as first_prompt,
        max("end") as last_loop_end,
        max("end") > any_value(core_end) + to_seconds($straggler_grace_secs) as straggler,
        -- the latest loop's status is the user's
        arg_max(status, "end") as status
    from member_loops
    group by cluster_id, user_key
),

sessions as (
    select distinct member_loops.cluster_id, member_loops.user_key, member_loops.session_key, users.first_prompt, users.core_end
    from member_loops
    join users using (cluster_id, user_key)
),

session_prompts as (
    select
        sessions.cluster_id,
        sessions.user_key,
        max(prompts."end") as last_prompt,
        count(*) filter (where prompts.start >= sessions.core_end) as prompts_after_core_end
    from sessions
    join prompts
        on prompts.session_key = sessions.session_key
        and prompts.start >= sessions.first_prompt
    group by sessions.cluster_id, sessions.user_key
)

select
    users.cluster_id,
    users.user_id,
    users.user_principal_name,
    users.app_display_name,
    users.device_os,
    users.loops,
    users.prompts,
    strftime(users.first_prompt, '%Y-%m-%dT%H:%M:%S.%gZ') as first_prompt,
    strftime(greatest(users.last_loop_end, session_prompts.last_prompt), '%Y-%m-%dT%H:%M:%S.%gZ') as last_prompt,
    coalesce(session_prompts.prompts_after_core_end, 0) as prompts_after_core_end,
    users.straggler,
    users.status <> 'looping' as stopped,
    users.status
from users
left join session_prompts using (cluster_id, user_key)
join clusters using (cluster_id)
-- still looping first within a cluster: the users an admin should act on before the others
order by clusters.start, users.cluster_id, stopped, users.straggler desc, prompts_after_core_end desc,
    users.user_principal_name, users.user_id, users.user_key
