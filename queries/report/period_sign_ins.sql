-- period_sign_ins: the report period's sign-ins, counted in one pass over the lake, two ways at once
-- (grouping sets share the scan):
--   per_session = false: by hour, error code, kind of row and whether the row is evidence of a flagged loop
--                         or burst; the totals, the hourly chart and the error-code table read these few
--                         thousand rows instead of the lake again;
--   per_session = true:  one row per interactive session key (user + app + device) with its user, so the
--                         totals can count users_prompted: `prompts` is keyed by session and carries no user.
-- "Evidence" is what detect/episodes.sql collects for a loop: an interactive row of its user + app + device while
-- it ran, or a background refusal (reauth_trigger, loop_signal) of its user + app from its evidence_start
-- (episodes.sql says how far before the first prompt) to its end. Matched on the stored 64-bit keys and times (no strings), by joins that find at most one
-- match per row: a session's runs never overlap, and the refusal windows are merged per user + app first.
-- Runs after the detection layers, with the same window, so its counts and theirs describe the same rows.
-- `newest` gives the report's data_through: how far the period's data reaches (a report built at 06:00 for
-- today says so), independent of sign-ins landed for later days, so a re-run gives the same bytes.

with runs as (
    select session_key, start, "end"
    from loops
),

-- episodes.sql's user_app_key, rebuilt from the loop's user and app keys as columns.ts derives it
refusal_windows as (
    select hash(user_key, app_key) as user_app_key, evidence_start as start, "end"
    from loops
),

window_islands as (
    select
        *,
        case
            when start <= max("end") over (partition by user_app_key order by start, "end" rows between unbounded preceding and 1 preceding) then 0
            else 1
        end as starts_island
    from refusal_windows
),

merged_windows as (
    select user_app_key, min(start) as start, max("end") as "end"
    from (
        select *, sum(starts_island) over (partition by user_app_key order by start, "end" rows unbounded preceding) as island
        from window_islands
    )
    group by user_app_key, island
),

period_rows as (
    select
        date_trunc('hour', s.created_at) as hour,
        s.error_code,
        s.created_at,
        -- what detect/prompts.sql reads: interactive rows of users (service principals are never prompted)
        s.principal_kind = 'user' and s.is_interactive as interactive,
        case when s.principal_kind = 'user' and s.is_interactive then s.session_key end as session_key,
        case when s.principal_kind = 'user' and s.is_interactive then coalesce(s.user_id, s.user_principal_name) end as user_key,
        coalesce(s.principal_kind = 'user' and case
            when s.is_interactive then runs.session_key is not null
            else s.outcome in ('reauth_trigger', 'loop_signal') and merged_windows.user_app_key is not null
        end, false) as in_loop
    from sign_ins as s
    left join runs
        on runs.session_key = s.session_key
        and s.created_at between runs.start and runs."end"
    left join merged_windows
        on merged_windows.user_app_key = s.user_app_key
        and s.created_at between merged_windows.start and merged_windows."end"
    -- the date test prunes whole partitions before any row is read
    where s.date between cast($from as date) and cast($to as date)
        and s.created_at >= $from
        and s.created_at < $to
)

select
    grouping(session_key) = 0 as per_session,
    hour,
    error_code,
    interactive,
    in_loop,
    session_key,
    count(*) as sign_ins,
    max(created_at) as newest,
    any_value(user_key) as user_key
from period_rows
group by grouping sets ((hour, error_code, interactive, in_loop), (session_key))
