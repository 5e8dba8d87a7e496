-- cluster_registry: the registry of cluster ids after this run, saved back to the lake
-- (findings/cluster_registry.parquet) for the next run to read as known_clusters. One row per id ever found:
--   cluster_id, tenant_id    the id and its tenant
--   start, end               the span of its members
--   loop_ids                 its member loops as of the last run that saw it (stable loop ids)
--   found_at                 the newest sign-in when it was first found: older ids win a merge (clusters.sql)
--   alias_of                 for an id absorbed into another incident, that incident's id; else null
-- Ids this run did not see are kept as they were.

with absorbed as (
    select unnest(absorbed_ids) as alias, cluster_id
    from clusters
),

current_ids as (
    select
        clusters.cluster_id,
        clusters.tenant_id,
        clusters.start,
        clusters."end",
        clusters.loop_ids,
        -- an id keeps when it was first found; a new one is found as of this run's newest sign-in
        coalesce(k.found_at, (select max(as_of) from loops)) as found_at,
        null::VARCHAR as alias_of
    from clusters
    left join known_clusters as k using (cluster_id)
)

select cluster_id, tenant_id, start, "end", loop_ids, found_at, alias_of from current_ids
union all
select
    k.cluster_id,
    k.tenant_id,
    k.start,
    k."end",
    k.loop_ids,
    k.found_at,
    coalesce(direct.cluster_id, chained.cluster_id, k.alias_of) as alias_of
from known_clusters as k
left join absorbed as direct on direct.alias = k.cluster_id
left join absorbed as chained on chained.alias = k.alias_of
anti join current_ids on current_ids.cluster_id = k.cluster_id
