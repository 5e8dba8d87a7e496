-- user_loops: one user's flagged sessions that overlap a period, for `reauth-loops user`.
-- @param user_key VARCHAR =  : the user's object id, or UPN when the logs carry no id (from user_candidates)

select f.*
from flagged_sessions as f
join loops as l using (loop_id)
where l.user_key = $user_key
    and l."end" >= $since
    and l.start < $until
order by f.start, f.loop_id
