-- user_devices: the devices in one user's timeline (user_events), most used first. A device without an id
-- (unregistered, most browsers) is one row per OS.
select
    device_id,
    device_os,
    count(*) as sign_ins,
    min(created_at) as first,
    max(created_at) as last
from user_events
group by device_id, device_os
order by sign_ins desc, first, device_id, device_os
