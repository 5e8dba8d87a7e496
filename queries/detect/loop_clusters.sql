-- loop_clusters: the output contract for tenant-wide incidents (schemas/loop-cluster.schema.json).
-- `core_start`..`core_end` is when enough users looped at once; `end` is when the last member loop stopped.
-- `parts` has one entry per app / OS family / client the incident hit, largest first.

-- ids merged into an incident (clusters.sql), which the alert feed still resolves to it
with merged as (
    select alias_of as cluster_id, list(cluster_id order by found_at, cluster_id) as aliases
    from cluster_registry
    where alias_of is not null
    group by alias_of
)

select
    cluster_id,
    strftime(start, '%Y-%m-%dT%H:%M:%S.%gZ') as start,
    strftime("end", '%Y-%m-%dT%H:%M:%S.%gZ') as "end",
    strftime(core_start, '%Y-%m-%dT%H:%M:%S.%gZ') as core_start,
    strftime(core_end, '%Y-%m-%dT%H:%M:%S.%gZ') as core_end,
    strftime(peak_at, '%Y-%m-%dT%H:%M:%S.%gZ') as peak_at,
    peak_users,
    user_count,
    loop_count,
    prompt_count,
    tenant_id,
    app_id,
    app_display_name,
    device_os,
    os_family,
    client_app_used,
    error_codes,
    loop_ids,
    coalesce(users_still_looping, []) as users_still_looping,
    coalesce(users_stopped_after_revocation, []) as users_stopped_after_revocation,
    list_transform(parts, lambda p: {
        'app_id': p.app_id, 'app_display_name': p.app_display_name, 'os_family': p.os_family,
        'device_os': p.device_os, 'client_app_used': p.client_app_used,
        'start': strftime(p.start, '%Y-%m-%dT%H:%M:%S.%gZ'),
        'core_start': strftime(p.core_start, '%Y-%m-%dT%H:%M:%S.%gZ'),
        'core_end': strftime(p.core_end, '%Y-%m-%dT%H:%M:%S.%gZ'),
        'end': strftime(p."end", '%Y-%m-%dT%H:%M:%S.%gZ'),
        'peak_at': strftime(p.peak_at, '%Y-%m-%dT%H:%M:%S.%gZ'),
        'peak_users': p.peak_users, 'user_count': p.user_count, 'loop_count': p.loop_count, 'prompt_count': p.prompt_count
    }) as parts,
    coalesce(merged.aliases, []) as aliases
from clusters
left join merged using (cluster_id)
order by start, cluster_id
