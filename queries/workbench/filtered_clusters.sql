-- filtered_clusters: tenant-wide loop clusters narrowed by an analyst's filters (`reauth-loops clusters`).
-- Same matching as filtered_loops.sql: names case-insensitively anywhere in the value (contains(), so % and _
-- are plain characters), codes exactly, an empty filter matches everything, and the period keeps clusters
-- that overlap it. With no filter, this is loop_clusters unchanged.

select lc.*
from loop_clusters as lc
join clusters as c using (cluster_id)
where ($app = ''
        or contains(lower(coalesce(lc.app_display_name, '')), lower($app))
        or lower(coalesce(lc.app_id, '')) = lower($app))
    and ($os = ''
        or contains(lower(coalesce(lc.device_os, '')), lower($os))
        or contains(lower(coalesce(lc.os_family, '')), lower($os)))
    and ($client = '' or contains(lower(coalesce(lc.client_app_used, '')), lower($client)))
    and ($code = '' or list_contains(lc.error_codes, try_cast($code as integer)))
    and c."end" >= $since
    and c.start < $until
order by lc.start, lc.cluster_id
