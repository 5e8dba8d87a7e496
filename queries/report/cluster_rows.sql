-- cluster_rows: the loop_clusters contract plus, per cluster, how many of its stragglers (users still looping
-- straggler_grace_secs after the core ended) have since stopped and how many are still looping at the
-- period's newest sign-in. Read from remediation, which judged each user.

with status as (
    select
        cluster_id,
        count(*) filter (where straggler and stopped) as stragglers_stopped,
        count(*) filter (where straggler and not stopped) as stragglers_still_looping
    from remediation
    group by cluster_id
)

select
    loop_clusters.*,
    coalesce(status.stragglers_stopped, 0) as stragglers_stopped,
    coalesce(status.stragglers_still_looping, 0) as stragglers_still_looping
from loop_clusters
left join status using (cluster_id)
order by loop_clusters.start, loop_clusters.cluster_id
