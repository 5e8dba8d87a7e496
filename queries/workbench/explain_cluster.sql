-- explain_cluster: the tenant-wide cluster a loop belongs to, if any, for `reauth-loops explain`.

select loop_clusters.*
from loop_clusters
where list_contains(loop_clusters.loop_ids, $loop_id)
