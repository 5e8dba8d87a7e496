/** Realistic alerts without running detection: for the sink tests and `npm run bench:alerts`. */
import type { Alert, FlaggedSession } from '../domain/findings';

/** A realistic flagged loop, as flagged_sessions writes it. */
export function sampleLoop(i = 0, over: Partial<FlaggedSession> = {}): FlaggedSession {
  return {
    loop_id: `loop-${String(i).padStart(16, '0')}`,
    kind: 'reauth_loop',
    severity: 'medium',
    tenant_id: '11111111-2222-3333-4444-555555555555',
    user_id: `user-${i}`,
    user_principal_name: `user${i}@contoso.example`,
    user_display_name: `User ${i}`,
    app_id: '27922004-5251-4030-b22d-91ecd9a37ea4',
    app_display_name: 'Outlook Mobile',
    device_id: `dev-${i}`,
    device_os: 'Ios',
    client_app_used: 'Mobile Apps and Desktop clients',
    start: '2026-04-14T09:00:00.000Z',
    end: '2026-04-14T09:05:00.000Z',
    duration_seconds: 300,
    prompt_count: 6,
    success_count: 6,
    interrupt_count: 6,
    failure_count: 0,
    denial_count: 0,
    reauth_signal_count: 2,
    loop_signal_count: 0,
    error_codes: [50074, 70044],
    median_gap_seconds: 60,
    median_reprompt_seconds: 55,
    ip_addresses: ['203.0.113.7'],
    sign_in_ids: Array.from({ length: 12 }, (_, k) => `00000000-0000-4000-8000-${String(i * 100 + k).padStart(12, '0')}`),
    cluster_id: null,
    status: 'looping',
    pause_count: 0,
    aliases: [],
    reason: '6 prompts in 5 min for Outlook Mobile on Ios; each success was followed by a new prompt within 60 s; codes 50074, 70044.',
    ...over,
  };
}

/** Version `version` of loop i's alert. */
export function sampleAlert(i = 0, version = 1, over: Partial<FlaggedSession> = {}): Alert {
  const loop = sampleLoop(i, over);
  return {
    schema: 'reauth-loops.alert/1',
    event_id: `${loop.loop_id}.v${version}`,
    kind: 'loop',
    subject_id: loop.loop_id,
    version,
    action: version === 1 ? 'opened' : 'updated',
    severity: loop.severity,
    title: `Reauthentication loop: ${loop.user_principal_name}, Outlook Mobile on Ios (${loop.prompt_count} prompts)`,
    reason: loop.reason,
    emitted_at: '2026-04-14T09:05:03.000Z',
    first_emitted_at: '2026-04-14T09:05:03.000Z',
    tenant_id: loop.tenant_id,
    loop,
  };
}
