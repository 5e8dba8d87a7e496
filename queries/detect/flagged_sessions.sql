-- flagged_sessions: the output contract (schemas/flagged-session.schema.json), one row per loop or burst,
-- with the cluster it belongs to and a sentence a person understands.
-- A loop inside a tenant-wide cluster is at least high severity: many users share it.
-- Times are ISO 8601 UTC with milliseconds.

with in_cluster as (
    select unnest(loop_ids) as loop_id, cluster_id, user_count as cluster_users
    from clusters
),

-- ids merged into a loop (loops.sql), which explain and the alert feed still resolve to it
merged as (
    select alias_of as loop_id, list(loop_id order by found_at, loop_id) as aliases
    from loop_registry
    where alias_of is not null
    group by alias_of
),

joined as (
    select
        loops.*,
        in_cluster.cluster_id,
        in_cluster.cluster_users,
        coalesce(merged.aliases, []) as aliases,
        epoch("end" - start) as duration_seconds
    from loops
    left join in_cluster using (loop_id)
    left join merged using (loop_id)
),

worded as (
    select
        *,
        case when duration_seconds < 120 then printf('%d s', round(duration_seconds)::bigint)
            else printf('%d min', round(duration_seconds / 60)::bigint) end as span_text,
        coalesce(app_display_name, app_id, 'an unknown app')
            || coalesce(' on ' || device_os, '') as where_text,
        case when len(error_codes) = 0 then 'no error codes'
            else 'codes ' || array_to_string(error_codes[1:6], ', ') end as codes_text
    from joined
)

select
    loop_id,
    kind,
    case when cluster_id is not null and severity = 'medium' then 'high' else severity end as severity,
    tenant_id,
    user_id,
    user_principal_name,
    user_display_name,
    app_id,
    app_display_name,
    device_id,
    device_os,
    client_app_used,
    strftime(start, '%Y-%m-%dT%H:%M:%S.%gZ') as start,
    strftime("end", '%Y-%m-%dT%H:%M:%S.%gZ') as "end",
    round(duration_seconds, 3) as duration_seconds,
    prompt_count,
    success_count,
    interrupt_count,
    failure_count,
    denial_count,
    reauth_signal_count,
    loop_signal_count,
    error_codes,
    round(median_gap_seconds, 1) as median_gap_seconds,
    round(median_reprompt_seconds, 1) as median_reprompt_seconds,
    ip_addresses,
    sign_in_ids,
    cluster_id,
    status,
    pause_count,
    aliases,
    case kind
        when 'reauth_loop' then
            printf('%d prompts in %s for %s', prompt_count, span_text, where_text)
            || case when pause_count > 0 then printf(' with %d pause%s in between', pause_count, case when pause_count = 1 then '' else 's' end) else '' end
            || case
                when success_prompts = 0 then '; none of them completed'
                when success_prompts = prompt_count then printf('; each success was followed by a new prompt within %d s', ceil(max_reprompt_seconds)::bigint)
                else printf('; %d of them succeeded and were followed by a new prompt within %d s', success_prompts, ceil(coalesce(max_reprompt_seconds, 0))::bigint)
            end
            || case when reauth_signal_count > 0 then printf('; %d background token refreshes were refused in between', reauth_signal_count) else '' end
            || case when loop_signal_count > 0 then '; Entra itself reported LoopDetected (50196)' else '' end
        when 'silent_loop' then
            printf('%d sign-ins in %s for %s that asked nothing of the user, each followed by another within seconds', prompt_count, span_text, where_text)
            || case when loop_signal_count > 0 then '; Entra itself reported LoopDetected (50196)' else '' end
        when 'mfa_denial_burst' then
            printf('%d MFA prompts denied or not answered in %s for %s from %d IP address%s', denied_prompts, span_text, where_text, len(ip_addresses), case when len(ip_addresses) = 1 then '' else 'es' end)
            || case when severity = 'critical' then '; then a sign-in succeeded: check whether the user approved an attacker''s prompt' else '' end
        else
            printf('%d failed sign-ins in %s for %s with no success', failed_prompts, span_text, where_text)
    end
    || '; ' || codes_text
    || case when cluster_id is not null then printf('; part of tenant-wide cluster %s (%d users)', cluster_id, cluster_users) else '' end
    || '.' as reason
from worded
order by start, loop_id
