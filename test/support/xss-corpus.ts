/**
 * Hostile strings for the HTML report tests (reliability.md S5), after the OWASP XSS filter-evasion cheat sheet,
 * plus report fixtures that carry them in every field that comes from a sign-in log.
 * Payloads that would run script set `window.__xss`, call `alert`/`confirm`/`prompt` (a dialog), or fetch
 * http://127.0.0.1:9/ (a request), so the browser test can see any one of them fire.
 */
import { sampleLoop } from '../../pipeline/simulate/alerts';
import type { FlaggedSession } from '../../pipeline/domain/findings';
import type { ClusterRow, RemediationRow, ReportData, TimelineEvent, UserTimeline } from '../../pipeline/report/types';

const M = 'window.__xss=1';
const URL = 'http://127.0.0.1:9/x';

export const XSS_PAYLOADS: readonly string[] = [
  // Plain script elements and breaking out of text, attributes and raw-text elements.
  `<script>${M}</script>`,
  `<script>alert(1)</script>`,
  `<SCRIPT SRC=${URL}.js></SCRIPT>`,
  `<script src="${URL}.js"></script>`,
  `<ScRiPt>${M}</sCrIpT>`,
  `<script/xss src="${URL}.js"></script>`,
  `<<SCRIPT>${M};//<</SCRIPT>`,
  `<script>${M}//`,
  `</script><script>${M}</script>`,
  `</title><script>${M}</script>`,
  `</style><script>${M}</script>`,
  `</textarea><script>${M}</script>`,
  `</noscript><script>${M}</script>`,
  `</text><script>alert(1)</script>`,
  `</tspan></text></svg><script>${M}</script>`,
  `--></script><script>${M}</script>`,
  `<!--<script>${M}</script>-->`,
  `"><script>${M}</script>`,
  `'><script>${M}</script>`,
  `"/><script>${M}</script>`,
  `'-alert(1)-'`,
  `"-alert(1)-"`,
  `';alert(1);//`,
  `\\";alert(1);//`,
  `" onmouseover="${M}`,
  `' onfocus='${M}' autofocus='`,
  `" autofocus onfocus="${M}`,
  `" style="background:url(${URL})`,
  `x" onerror="${M}" src="y`,
  // Event handlers on elements that fire without user action.
  `<img src=x onerror=${M}>`,
  `<img src=x onerror="alert(1)">`,
  `<IMG SRC=x ONERROR=${M}>`,
  `<img src=x:alert(1) onerror=eval(src)>`,
  `<img/src=x/onerror=${M}>`,
  `<img src=x onerror=&#119;indow.__xss=1>`,
  `<img src="x` + '`' + `" onerror=${M}>`,
  `<img """><script>${M}</script>">`,
  `<img src=${URL}.png>`,
  `<image src=x onerror=${M}>`,
  `<svg onload=${M}>`,
  `<svg/onload=alert(1)>`,
  `<svg><script>${M}</script></svg>`,
  `<svg><animate onbegin=${M} attributeName=x dur=1s>`,
  `<svg><set onbegin=${M} attributeName=x to=1>`,
  `<svg><a xlink:href="javascript:${M}"><text y=20>click</text></a></svg>`,
  `<svg><use href="data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='${M}'/></svg>#x"/></svg>`,
  `<svg><foreignObject><iframe srcdoc="<script>parent.${M}</script>"></iframe></foreignObject></svg>`,
  `<svg><image href="${URL}.png"/></svg>`,
  `<body onload=${M}>`,
  `<body onpageshow=${M}>`,
  `<input autofocus onfocus=${M}>`,
  `<select autofocus onfocus=${M}>`,
  `<textarea autofocus onfocus=${M}>`,
  `<keygen autofocus onfocus=${M}>`,
  `<details open ontoggle=${M}>`,
  `<video src=x onerror=${M}>`,
  `<video><source onerror=${M}>`,
  `<audio src=x onerror=${M}>`,
  `<marquee onstart=${M}>`,
  `<div onpointerover=${M} style="position:fixed;inset:0">`,
  `<object data="javascript:${M}">`,
  `<object data="${URL}.swf">`,
  `<embed src="javascript:${M}">`,
  `<embed src="${URL}.swf">`,
  `<applet code="x">`,
  `<style onload=${M}></style>`,
  `<link rel=stylesheet href="${URL}.css">`,
  `<link rel=import href="${URL}.html">`,
  `<link rel=prefetch href="${URL}">`,
  `<iframe src="javascript:${M}">`,
  `<iframe srcdoc="<script>parent.${M}</script>">`,
  `<iframe srcdoc="&lt;script&gt;parent.${M}&lt;/script&gt;">`,
  `<iframe src="${URL}"></iframe>`,
  `<frameset onload=${M}>`,
  `<isindex action="javascript:${M}" type=image>`,
  `<form action="javascript:${M}"><button>go</button></form>`,
  `<form><button formaction="javascript:${M}">go</button></form>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=${M}>`,
  `<math><maction actiontype="statusline" xlink:href="javascript:${M}">x</maction></math>`,
  `<math href="javascript:${M}">x</math>`,
  `<table background="javascript:${M}">`,
  `<td background="${URL}.png">`,
  `<div style="background-image:url(${URL}.png)">`,
  `<div style="width:expression(${M})">`,
  `<div style="behavior:url(${URL}.htc)">`,
  `<div style="-moz-binding:url(${URL}.xml#x)">`,
  `<xss style="xss:expression(alert(1))">`,
  `<style>@import '${URL}.css';</style>`,
  `<style>body{background:url("${URL}.png")}</style>`,
  `<style>*{x:expression(${M})}</style>`,
  `<style>li{list-style-image:url("javascript:${M}")}</style><ul><li>x</ul>`,
  `<base href="${URL}/">`,
  `<base href="javascript:${M}//">`,
  `<meta http-equiv="refresh" content="0;url=javascript:${M}">`,
  `<meta http-equiv="refresh" content="0;url=${URL}">`,
  `<meta http-equiv="Content-Security-Policy" content="script-src 'unsafe-inline'">`,
  `<meta http-equiv="set-cookie" content="x=1">`,
  `<a href="javascript:${M}">click</a>`,
  `<a href="JaVaScRiPt:${M}">click</a>`,
  `<a href="jav&#x09;ascript:${M}">click</a>`,
  `<a href="jav&#x0A;ascript:${M}">click</a>`,
  `<a href=" &#14; javascript:${M}">click</a>`,
  `<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;${M}">click</a>`,
  `<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;${M}">click</a>`,
  `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>`,
  `<a href="vbscript:msgbox(1)">click</a>`,
  `<a ping="${URL}" href="#">x</a>`,
  `javascript:${M}`,
  `javascript:alert(1)`,
  `JaVaScRiPt:alert(1)`,
  `java\u0000script:alert(1)`,
  `data:text/html,<script>${M}</script>`,
  `vbscript:msgbox(1)`,
  // Encodings, entity tricks and characters that some parsers fold.
  `&lt;script&gt;${M}&lt;/script&gt;`,
  `&#60;script&#62;${M}&#60;/script&#62;`,
  `&#x3C;script&#x3E;${M}&#x3C;/script&#x3E;`,
  `&#0000060script&#0000062${M}`,
  `%3Cscript%3E${M}%3C/script%3E`,
  `\\u003cscript\\u003e${M}\\u003c/script\\u003e`,
  `\\x3cscript\\x3e${M}\\x3c/script\\x3e`,
  `\uff1cscript\uff1e${M}\uff1c/script\uff1e`,
  `\u00bcscript\u00be${M}\u00bc/script\u00be`,
  `+ADw-script+AD4-${M}+ADw-/script+AD4-`,
  `<scr<script>ipt>${M}</scr</script>ipt>`,
  `<scr\u0000ipt>${M}</scr\u0000ipt>`,
  `<img src=x onerror\u000c=${M}>`,
  `<img\u000bsrc=x\u000bonerror=${M}>`,
  `<img src=x onerror=${M}\u2028>`,
  `<a href="java\u0009script:${M}">x</a>`,
  `<img src=x one\u200brror=${M}>`,
  `<\u0000script>${M}</script>`,
  `\u202e<script>${M}</script>`,
  `\ud800<script>${M}</script>`,
  `<![CDATA[<script>${M}</script>]]>`,
  `<?xml-stylesheet href="${URL}.xsl"?>`,
  `<!DOCTYPE x [<!ENTITY e SYSTEM "${URL}">]>&e;`,
  `<xml><x:script xmlns:x="http://www.w3.org/1999/xhtml">${M}</x:script></xml>`,
  `<noscript><p title="</noscript><img src=x onerror=${M}>">`,
  `<template><script>${M}</script></template>`,
  `<plaintext><script>${M}</script>`,
  `<xmp></xmp><script>${M}</script>`,
  `<listing><img src=x onerror=${M}></listing>`,
  `<object><param name="src" value="javascript:${M}"></object>`,
  `<portal src="${URL}"></portal>`,
  `<picture><source srcset="${URL}.png"><img></picture>`,
  `<img srcset="${URL}.png 1x">`,
  `<input type=image src="${URL}.png">`,
  `<video poster="${URL}.png">`,
  `<track src="${URL}.vtt">`,
  `{{constructor.constructor('${M}')()}}`,
  '${alert(1)}',
  `<div id="__xss">shadowing window.__xss</div>`,
  `<a id=__xss name=__xss>`,
  `<form id=__xss>`,
  `<img name=__xss>`,
  '\u0000\u0007\u001b[31m\u009b2J\u2066<script>alert(1)</script>\u2069',
  '=HYPERLINK("' + URL + '","x")',
];

/** A full-featured report with realistic values: the baseline the hostile fixture replaces field by field. */
export function realisticReport(): ReportData {
  // The shared sample loop, made to look like an hour-long incident member.
  const loop = (i: number, over: Partial<FlaggedSession> = {}): FlaggedSession =>
    sampleLoop(i, {
      severity: i === 0 ? 'critical' : i < 3 ? 'high' : 'medium',
      user_id: `0000000${i}-aaaa-4bbb-8ccc-dddddddddddd`,
      start: `2026-04-14T09:${String((i * 3) % 60).padStart(2, '0')}:00.000Z`,
      end: `2026-04-14T10:${String((i * 2) % 60).padStart(2, '0')}:30.000Z`,
      duration_seconds: 3630 - i * 60,
      prompt_count: 40 - i,
      success_count: 38 - i,
      interrupt_count: 40 - i,
      reauth_signal_count: 4,
      sign_in_ids: [`00000000-0000-4000-8000-00000000000${i}`],
      cluster_id: i < 4 ? 'cluster-0001' : null,
      reason: `${40 - i} prompts in 1 h for Outlook Mobile on Ios; each success was followed by a new prompt within 60 s; codes 50074, 70044.`,
      ...over,
    });
  const cluster: ClusterRow = {
    cluster_id: 'cluster-0001',
    start: '2026-04-14T09:00:00.000Z',
    end: '2026-04-14T10:40:00.000Z',
    core_end: '2026-04-14T10:05:00.000Z',
    peak_at: '2026-04-14T09:40:00.000Z',
    peak_users: 29,
    user_count: 37,
    loop_count: 41,
    prompt_count: 612,
    tenant_id: '11111111-2222-3333-4444-555555555555',
    app_id: '27922004-5251-4030-b22d-91ecd9a37ea4',
    app_display_name: 'Outlook Mobile',
    device_os: 'Ios',
    os_family: 'iOS',
    client_app_used: 'Mobile Apps and Desktop clients',
    error_codes: [50074, 70044],
    loop_ids: ['loop-0000000000000000', 'loop-0000000000000001'],
    users_still_looping: ['user1@contoso.example'],
    stragglers_stopped: 2,
    stragglers_still_looping: 1,
  };
  const remediation = (i: number, over: Partial<RemediationRow> = {}): RemediationRow => ({
    cluster_id: 'cluster-0001',
    user_id: `0000000${i}-aaaa-4bbb-8ccc-dddddddddddd`,
    user_principal_name: `user${i}@contoso.example`,
    app_display_name: 'Outlook Mobile',
    device_os: 'Ios',
    loops: 1,
    prompts: 30 + i,
    first_prompt: '2026-04-14T09:01:00.000Z',
    last_prompt: '2026-04-14T10:35:00.000Z',
    prompts_after_core_end: i,
    straggler: i > 0,
    stopped: i !== 1,
    ...over,
  });
  return {
    schema: 'reauth-loops.report/1',
    period: { from: '2026-04-14T00:00:00.000Z', to: '2026-04-15T00:00:00.000Z', label: '2026-04-14' },
    data_through: '2026-04-14T23:58:41.000Z',
    pseudonymized: false,
    totals: {
      sign_ins: 184_233,
      interactive_sign_ins: 21_907,
      prompts: 6_412,
      users_prompted: 2_988,
      loops: 57,
      looping_users: 42,
      loop_prompts: 1_204,
      clusters: 1,
      denial_bursts: 2,
      failure_bursts: 1,
    },
    previous: {
      sign_ins: 179_004,
      interactive_sign_ins: 20_115,
      prompts: 5_001,
      users_prompted: 2_870,
      loops: 12,
      looping_users: 11,
      loop_prompts: 190,
      clusters: 0,
      denial_bursts: 0,
      failure_bursts: 3,
    },
    hourly: Array.from({ length: 24 }, (_, h) => ({
      hour: `2026-04-14T${String(h).padStart(2, '0')}:00:00.000Z`,
      sign_ins: 4000 + ((h * 977) % 6000),
      prompts: h === 9 ? 900 : h === 10 ? 450 : 120 + ((h * 37) % 90),
      looping_users: h === 9 ? 29 : h === 10 ? 12 : h % 5,
    })),
    clusters: [cluster],
    top: {
      apps: [
        { name: 'Outlook Mobile', loops: 41, users: 37, prompts: 700 },
        { name: 'Microsoft Teams', loops: 9, users: 6, prompts: 310 },
        { name: 'OneDrive SyncEngine', loops: 4, users: 3, prompts: 120 },
      ],
      os: [
        { name: 'Ios', loops: 44, users: 38, prompts: 760 },
        { name: 'Windows10', loops: 13, users: 9, prompts: 444 },
      ],
      clients: [
        { name: 'Mobile Apps and Desktop clients', loops: 50, users: 40, prompts: 1_100 },
        { name: 'Browser', loops: 7, users: 5, prompts: 104 },
      ],
      error_codes: [
        { code: 50074, outcome: 'interrupt', meaning: 'Strong authentication is required', sign_ins: 3_100, in_loops: 1_090 },
        { code: 70044, outcome: 'reauth_trigger', meaning: 'The session has expired or is invalid', sign_ins: 800, in_loops: 600 },
        { code: 500121, outcome: 'mfa_denied', meaning: 'Authentication failed during strong authentication request', sign_ins: 40, in_loops: 31 },
        { code: 99999, outcome: null, meaning: null, sign_ins: 3, in_loops: 0 },
      ],
    },
    worst_loops: Array.from({ length: 6 }, (_, i) => loop(i)),
    denial_bursts: [
      loop(20, {
        kind: 'mfa_denial_burst',
        severity: 'critical',
        user_principal_name: 'cfo@contoso.example',
        user_display_name: 'Chief Financial Officer',
        app_display_name: 'Azure Portal',
        device_os: 'Windows10',
        client_app_used: 'Browser',
        denial_count: 14,
        prompt_count: 16,
        error_codes: [500121],
        ip_addresses: ['198.51.100.23', '198.51.100.24', '2001:db8::1', '192.0.2.1', '192.0.2.2', '192.0.2.3'],
        cluster_id: null,
        reason: '14 MFA denials in 9 min from 6 IP addresses.',
      }),
      loop(21, { kind: 'mfa_denial_burst', severity: 'high', denial_count: 6, error_codes: [500121], cluster_id: null, reason: '6 MFA denials in 4 min.' }),
    ],
    failure_bursts: [
      loop(30, { kind: 'failure_burst', failure_count: 25, error_codes: [50126], cluster_id: null, reason: '25 failed sign-ins in 3 min (50126).' }),
    ],
    remediation: [remediation(0), remediation(1), remediation(2), remediation(3, { prompts_after_core_end: 0, straggler: false })],
  };
}

/** Puts payload after payload into every string a sign-in log could have supplied. */
function cycler(): () => string {
  let i = 0;
  return () => XSS_PAYLOADS[i++ % XSS_PAYLOADS.length]!;
}

/**
 * The realistic report with log-derived strings replaced by payloads; every payload appears at least once.
 * Numbers and ids the pipeline computes itself stay realistic, so the headline numbers are known.
 */
export function hostileReport(): ReportData {
  const next = cycler();
  const d = realisticReport();
  const hostileLoop = (l: FlaggedSession): FlaggedSession => ({
    ...l,
    loop_id: next(),
    user_id: next(),
    user_principal_name: next(),
    user_display_name: next(),
    app_display_name: next(),
    device_id: next(),
    device_os: next(),
    client_app_used: next(),
    ip_addresses: [next(), next()],
    cluster_id: next(),
    reason: next(),
  });
  const base = {
    ...d,
    period: { ...d.period, label: next() },
    pseudonymized: true,
    clusters: d.clusters.map((c) => ({
      ...c,
      cluster_id: next(),
      app_display_name: next(),
      device_os: next(),
      os_family: next(),
      client_app_used: next(),
    })),
    top: {
      apps: d.top.apps.map((r) => ({ ...r, name: next() })),
      os: d.top.os.map((r) => ({ ...r, name: next() })),
      clients: d.top.clients.map((r) => ({ ...r, name: next() })),
      error_codes: d.top.error_codes.map((r) => ({ ...r, outcome: next(), meaning: next() })),
    },
    worst_loops: d.worst_loops.map(hostileLoop),
    denial_bursts: d.denial_bursts.map(hostileLoop),
    failure_bursts: d.failure_bursts.map(hostileLoop),
    remediation: d.remediation.map((r) => ({
      ...r,
      cluster_id: next(),
      user_id: next(),
      user_principal_name: next(),
      app_display_name: next(),
      device_os: next(),
    })),
  };
  // Whatever the fields above did not use goes into extra top-list rows, so every payload is rendered.
  const apps = [...base.top.apps];
  for (let k = 0; k < XSS_PAYLOADS.length; k++) apps.push({ name: XSS_PAYLOADS[k]!, loops: 1, users: 1, prompts: 2 });
  return { ...base, top: { ...base.top, apps } };
}

/** One user's timeline with payloads in every log-derived field. */
export function hostileTimeline(): UserTimeline {
  const next = cycler();
  const d = realisticReport();
  const outcomes = ['success', 'interrupt', 'reauth_trigger', 'failure', 'mfa_denied', null];
  const kinds: TimelineEvent['kind'][] = ['prompt', 'silent', 'background'];
  const loops = [...d.worst_loops.slice(0, 1), ...d.denial_bursts.slice(0, 1)].map((l) => ({ ...l, loop_id: next(), app_display_name: next(), reason: next() }));
  const events: TimelineEvent[] = XSS_PAYLOADS.map((p, i) => ({
    created_at: new Date(Date.parse('2026-04-14T09:00:00.000Z') + i * 37_000).toISOString(),
    kind: kinds[i % 3]!,
    outcome: i % 17 === 0 ? p : outcomes[i % outcomes.length]!,
    error_code: i % 4 === 0 ? null : 50074,
    app_display_name: p,
    device_os: next(),
    device_id: next(),
    ip_address: next(),
    user_agent: `Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) ${p}`,
    sign_in_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    loop_id: i % 5 === 0 ? loops[0]!.loop_id : i % 7 === 0 ? next() : null,
  }));
  return {
    schema: 'reauth-loops.user-timeline/1',
    user: { user_id: next(), user_principal_name: next(), user_display_name: next() },
    period: { from: '2026-04-14T00:00:00.000Z', to: '2026-04-15T00:00:00.000Z' },
    events,
    loops,
    devices: [
      { device_id: next(), device_os: next(), sign_ins: 120, first: '2026-04-14T09:00:00.000Z', last: '2026-04-14T10:30:00.000Z' },
      { device_id: null, device_os: null, sign_ins: 3, first: '2026-04-14T09:10:00.000Z', last: '2026-04-14T09:12:00.000Z' },
    ],
    ips: [{ ip_address: next(), sign_ins: 123, first: '2026-04-14T09:00:00.000Z', last: '2026-04-14T10:30:00.000Z' }],
  };
}
