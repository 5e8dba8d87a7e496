-- flagged_rows: each flagged session's rank in its section of the report: reauth loops worst first (most
-- prompts, then longest), MFA-denial bursts critical first (a success after the denials: the user may have
-- approved an attacker's prompt), then by start. Only keys and ranks: report/data.ts joins them back to
-- flagged_sessions for the few rows the report shows, so the evidence lists are never copied.

select
    loop_id,
    kind,
    row_number() over (
        partition by kind
        order by
            case when kind = 'reauth_loop' then -prompt_count else 0 end,
            case when kind = 'reauth_loop' then -duration_seconds else 0 end,
            case severity when 'critical' then 0 when 'high' then 1 else 2 end,
            start,
            loop_id
    ) as section_rank
from flagged_sessions
