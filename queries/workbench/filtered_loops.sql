-- filtered_loops: flagged sessions narrowed by an analyst's filters (`reauth-loops loops`), so "Outlook on
-- iPhones is broken" becomes a list of users without writing SQL.
-- Names match case-insensitively anywhere in the value, with contains() rather than LIKE, so % and _ in a
-- filter are plain characters; codes, kinds and severities match exactly. An empty filter matches everything.
-- The period keeps loops that overlap it (a loop that began before `since` and is still running counts).
-- @param app VARCHAR =  : part of the app's display name, or its app id (empty: any app)
-- @param os VARCHAR =  : part of the device OS, e.g. ios, windows (empty: any OS)
-- @param client VARCHAR =  : part of the client app used, e.g. mobile apps, browser (empty: any client)
-- @param who VARCHAR =  : part of the user principal name or display name, or the exact object id (empty: anyone)
-- @param code VARCHAR =  : an Entra error code seen in the loop, e.g. 70044 (empty: any code)
-- @param kind VARCHAR =  : reauth_loop, mfa_denial_burst or failure_burst (empty: any kind)
-- @param severity VARCHAR =  : medium, high or critical (empty: any severity)
-- @param since TIMESTAMP = 1970-01-01 00:00:00 : keep loops still running at or after this time (UTC)
-- @param until TIMESTAMP = 2199-01-01 00:00:00 : keep loops that started before this time (UTC)

select f.*
from flagged_sessions as f
join loops as l using (loop_id)
where ($app = ''
        or contains(lower(coalesce(f.app_display_name, '')), lower($app))
        or lower(coalesce(f.app_id, '')) = lower($app))
    and ($os = '' or contains(lower(coalesce(f.device_os, '')), lower($os)))
    and ($client = '' or contains(lower(coalesce(f.client_app_used, '')), lower($client)))
    and ($who = ''
        or contains(lower(coalesce(f.user_principal_name, '')), lower($who))
        or contains(lower(coalesce(f.user_display_name, '')), lower($who))
        or lower(coalesce(f.user_id, '')) = lower($who))
    -- try_cast: the caller checks the code is digits, and an empty filter must not fail the cast
    and ($code = '' or list_contains(f.error_codes, try_cast($code as integer)))
    and ($kind = '' or f.kind = lower($kind))
    and ($severity = '' or f.severity = lower($severity))
    and l."end" >= $since
    and l.start < $until
order by f.start, f.loop_id
