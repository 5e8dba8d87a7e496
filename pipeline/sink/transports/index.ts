import type { SinkConfig } from '../config';
import type { Transport } from '../types';
import { createEventHubsTransport } from './eventhubs';
import { createFileTransport } from './file';
import { createSentinelTransport } from './sentinel';
import { createSplunkHecTransport } from './splunk-hec';
import { createStdoutTransport } from './stdout';
import { createSyslogTransport } from './syslog';
import { createWebhookTransport } from './webhook';

/** The transport a sink's config asks for. Connections open lazily, on the first send. */
export function createTransport(s: SinkConfig): Transport {
  switch (s.type) {
    case 'file':
      return createFileTransport(s);
    case 'stdout':
      return createStdoutTransport(s);
    case 'syslog':
      return createSyslogTransport(s);
    case 'webhook':
      return createWebhookTransport(s);
    case 'splunk-hec':
      return createSplunkHecTransport(s);
    case 'eventhubs':
      return createEventHubsTransport(s);
    case 'sentinel':
      return createSentinelTransport(s);
  }
}
