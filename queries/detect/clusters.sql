-- clusters: each incident (incidents.sql) under its stable id, the id it was first found with, kept in the
-- lake's registry findings/cluster_registry.parquet (read as known_clusters). An incident takes the id of a
-- known incident it shares a member loop with (members named by their stable ids, aliases resolved), so the
-- id stays as the incident grows, as late sign-ins move its core, and between the live feed and batch.
-- Merges and splits are settled as in loops.sql: the oldest id stays, the others become aliases.

with members as (
    select cluster_id as natural_id, start as incident_start, unnest(loop_ids) as loop_id
    from incidents
),

known_members as (
    select k.known_id, k.found_at, k.known_start, coalesce(r.alias_of, k.member) as loop_id
    from (select cluster_id as known_id, found_at, start as known_start, unnest(loop_ids) as member from known_clusters where alias_of is null) as k
    left join loop_registry as r on r.loop_id = k.member
),

matches as (
    select distinct members.natural_id, members.incident_start, known_members.known_id, known_members.found_at, known_members.known_start
    from members
    join known_members using (loop_id)
),

oldest as (
    select natural_id, any_value(incident_start) as incident_start, arg_min(known_id, (found_at, known_start, known_id)) as known_id
    from matches
    group by natural_id
),

claimed as (
    select natural_id, known_id
    from oldest
    qualify row_number() over (partition by known_id order by incident_start, natural_id) = 1
),

absorbed as (
    select matches.natural_id, list(matches.known_id order by matches.found_at, matches.known_id) as absorbed_ids
    from matches
    join claimed using (natural_id)
    anti join claimed as taken on taken.known_id = matches.known_id
    group by matches.natural_id
)

select
    coalesce(claimed.known_id, incidents.cluster_id) as cluster_id,
    incidents.cluster_id as natural_id,
    coalesce(absorbed.absorbed_ids, []) as absorbed_ids,
    incidents.* exclude (cluster_id)
from incidents
left join claimed on claimed.natural_id = incidents.cluster_id
left join absorbed on absorbed.natural_id = incidents.cluster_id
