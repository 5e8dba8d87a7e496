-- flows: interactive sign-in *flows*, each marked by whether the user had to act (a prompt) or not (silent
-- SSO, LoopDetected). A flow is not a row: one MFA sign-in
-- writes several rows (50074, then 0), a password typed wrong twice writes 50126, 50126, 0. Rows of one
-- user + app + device belong to one flow while they are close together; a success ends the flow.
-- correlation_id is supplied by the client and some clients reuse it across retries, so it never holds a
-- flow together on its own: it merges the extra rows Entra writes for one successful request, and it tells
-- a retry on the same sign-in page from a new attempt after a refusal.
-- A flow whose rows are all silent SSO ("Previously satisfied", no interrupt or failure) or Entra's own
-- LoopDetected refusal (50196) asked nothing of the user: needs_user is false. Such flows seconds apart are
-- the loop the user watches without typing anything (episodes.sql's silent_loop); prompts.sql keeps the others.
-- Service principals and managed identities are never prompted and are left out here.
-- This layer runs over every interactive row, so it stays narrow: the lake's 64-bit session_key per user +
-- app + device (sorting and reading one number is several times cheaper than three strings; two triples
-- would have to collide in 64 bits to merge) and no per-flow lists. episodes.sql fetches the details for the
-- few runs that qualify.
-- @param from TIMESTAMP = 1970-01-01 00:00:00 : start of the window, inclusive (UTC)
-- @param to TIMESTAMP = 2199-01-01 00:00:00 : end of the window, exclusive (UTC)
-- @param flow_gap_secs INTEGER = 60 : rows of one flow (MFA challenge, retries) arrive within a minute of each other; a longer pause starts a new prompt
-- @param same_request_secs INTEGER = 10 : a second success row with the same correlation id this soon after the first is the same request logged again (CAE, multi-row MFA), not a new prompt

with interactive as (
    select
        session_key,
        created_at,
        outcome,
        error_code,
        hash(sign_in_id) as id_hash,
        case when correlation_id is not null then hash(correlation_id) end as correlation_hash,
        auth_methods is not null and auth_methods <> 'Previously satisfied' as user_authenticated
    from sign_ins
    -- the date test prunes whole partitions before any row is read
    where date between cast($from as date) and cast($to as date)
        and created_at >= $from
        and created_at < $to
        and principal_kind = 'user'
        and is_interactive
        and coalesce(user_id, user_principal_name) is not null
),

ordered as (
    select
        *,
        lag({'at': created_at, 'outcome': outcome, 'correlation': correlation_hash, 'id': id_hash}) over flow_order as prev,
        -- position in the flow order: numbered sorts on it alone instead of repeating the five-part key, and
        -- the aggregates in flows need no ORDER BY (ordered aggregates are slow)
        row_number() over flow_order as seq
    from interactive
    -- at equal timestamps the challenge sorts before its success
    window flow_order as (partition by session_key order by created_at, outcome = 'success', id_hash, error_code)
),

marked as (
    select
        *,
        case
            when prev is null then 1
            when created_at - prev.at > to_seconds($flow_gap_secs) then 1
            -- after a refusal (denied MFA, bad password, block) a new request is a new attempt;
            -- a retry inside the same sign-in page keeps its correlation id
            when prev.outcome in ('mfa_denied', 'failure', 'block')
                and correlation_hash is distinct from prev.correlation then 1
            when prev.outcome = 'success'
                and not (
                    outcome = 'success'
                    and (
                        id_hash = prev.id
                        or (correlation_hash = prev.correlation
                            and created_at - prev.at <= to_seconds($same_request_secs))
                    )
                ) then 1
            else 0
        end as starts_flow
    from ordered
),

numbered as (
    select
        *,
        sum(starts_flow) over (partition by session_key order by seq rows unbounded preceding) as flow_no
    from marked
),

flows as (
    select
        session_key,
        flow_no,
        min(created_at) as start,
        max(created_at) as "end",
        count(*) as row_count,
        arg_max(outcome, seq) as final_outcome,
        count(*) filter (where outcome = 'success') as success_rows,
        count(*) filter (where outcome = 'interrupt') as interrupt_rows,
        count(*) filter (where outcome = 'reauth_trigger') as reauth_rows,
        count(*) filter (where outcome in ('failure', 'block', 'unknown')) as failure_rows,
        count(*) filter (where outcome = 'mfa_denied') as denial_rows,
        count(*) filter (where outcome = 'loop_signal') as loop_signal_rows,
        bool_or(outcome not in ('success', 'unknown', 'loop_signal') or user_authenticated) as needs_user
    from numbered
    group by session_key, flow_no
)

select * from flows
