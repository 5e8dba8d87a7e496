-- loops: each episode (episodes.sql) under its stable id, the id it was first found with. The ids found so
-- far are the lake's registry, findings/loop_registry.parquet, read as known_loops (loop_registry.sql writes it back).
-- An episode takes the id of a known loop of the same user + app + device whose span overlaps its own, so the
-- id stays as the loop grows, as late sign-ins move its start, on a re-run, and between the live feed and a
-- batch run on the same lake; an episode that matches nothing keeps its natural id (episodes.sql).
-- An episode that overlaps several known loops (late sign-ins or a pause that joined two of them) keeps the
-- oldest one's id, by when it was found; the others become its aliases (absorbed_ids), which explain and the
-- alert feed still resolve. A known id is claimed by one episode only (the earliest, should a loop split);
-- another episode that overlaps it gets its natural id.

with matches as (
    select
        e.loop_id as natural_id,
        e.start as episode_start,
        k.loop_id as known_id,
        k.found_at,
        k.start as known_start
    from episodes as e
    join known_loops as k
        on k.session_key = e.session_key
        and k.alias_of is null
        and k.start <= e."end"
        and k."end" >= e.start
),

oldest as (
    select natural_id, any_value(episode_start) as episode_start, arg_min(known_id, (found_at, known_start, known_id)) as known_id
    from matches
    group by natural_id
),

claimed as (
    select natural_id, known_id
    from oldest
    qualify row_number() over (partition by known_id order by episode_start, natural_id) = 1
),

absorbed as (
    select matches.natural_id, list(matches.known_id order by matches.found_at, matches.known_id) as absorbed_ids
    from matches
    join claimed using (natural_id)
    anti join claimed as taken on taken.known_id = matches.known_id
    group by matches.natural_id
)

select
    coalesce(claimed.known_id, episodes.loop_id) as loop_id,
    episodes.loop_id as natural_id,
    coalesce(absorbed.absorbed_ids, []) as absorbed_ids,
    episodes.* exclude (loop_id)
from episodes
left join claimed on claimed.natural_id = episodes.loop_id
left join absorbed on absorbed.natural_id = episodes.loop_id
