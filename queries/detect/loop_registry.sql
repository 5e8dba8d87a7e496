-- loop_registry: the registry of loop ids after this run, which detection saves back to the lake
-- (findings/loop_registry.parquet) for the next run to read as known_loops. One row per id ever found:
--   loop_id, session_key     the id and the user + app + device it belongs to
--   start, end               the span the id covers (everything it ever matched, absorbed loops included)
--   found_at                 the newest sign-in when it was first found: older ids win a merge (loops.sql)
--   alias_of                 for an id absorbed into another loop, that loop's id; null for a loop's own id
-- Ids this run did not see are kept as they were, so a run over a window (continuous detection) forgets nothing.

with absorbed as (
    select unnest(absorbed_ids) as alias, loop_id
    from loops
),

-- this run's loops with the spans of the known ids they kept or absorbed
spans as (
    select loop_id, session_key, start, "end" from loops
    union all
    select absorbed.loop_id, k.session_key, k.start, k."end"
    from absorbed
    join known_loops as k on k.loop_id = absorbed.alias
    union all
    select k.loop_id, k.session_key, k.start, k."end"
    from known_loops as k
    semi join loops on loops.loop_id = k.loop_id
),

current_ids as (
    select spans.loop_id, any_value(spans.session_key) as session_key, min(spans.start) as start, max(spans."end") as "end",
        -- an id keeps when it was first found; a new one is found as of this run's newest sign-in
        coalesce(any_value(k.found_at), any_value(loops.as_of)) as found_at,
        null::VARCHAR as alias_of
    from spans
    left join known_loops as k on k.loop_id = spans.loop_id
    left join loops on loops.loop_id = spans.loop_id
    group by spans.loop_id
)

select loop_id, session_key, start, "end", found_at, alias_of from current_ids
union all
select
    k.loop_id,
    k.session_key,
    k.start,
    k."end",
    k.found_at,
    coalesce(direct.loop_id, chained.loop_id, k.alias_of) as alias_of
from known_loops as k
left join absorbed as direct on direct.alias = k.loop_id
left join absorbed as chained on chained.alias = k.alias_of
anti join current_ids on current_ids.loop_id = k.loop_id
