-- loop_clusters: the output contract for tenant-wide incidents (schemas/loop-cluster.schema.json).
-- `core_end` is when the incident subsided; `end` is when the last member loop stopped.

select
    cluster_id,
    strftime(start, '%Y-%m-%dT%H:%M:%S.%gZ') as start,
    strftime("end", '%Y-%m-%dT%H:%M:%S.%gZ') as "end",
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
    coalesce(users_still_looping, []) as users_still_looping
from clusters
order by start, cluster_id
