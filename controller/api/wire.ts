/**
 * The HTTP API's wire types: the request and response shapes opsctl (and any other client)
 * may know. This is the only controller module a client imports, and it holds types only
 * (test/architecture checks it), so a compiled client never loads controller code. The
 * shapes are declared where the controller builds them and re-exported here by name, so a
 * field added to a view is visible to the client's type check at once.
 */
export type { AlertApiView, AlertGroupView, RouteStepView, SilenceView } from '../alerts/alert-manager.js';
export type { BackupSetView, BackupSnapshotView } from '../backup/catalog.js';
export type { CheckView } from '../checks/checks-store.js';
export type { RunStreamEvent } from '../dispatch/run-dispatcher.js';
export type { HostRunRecord, RunRecord } from '../dispatch/runs-store.js';
export type { HostSummaryView, HostView } from '../store/hosts-store.js';
export type { FactsView } from '../facts/facts-store.js';
export type { FleetPage, FleetRow } from '../dashboard/fleet-view.js';
export type { MetricSeries } from '../checks/metric-series.js';
export type { CheckHistoryEntry, LogLevelSeries, TimelineEvent } from '../dashboard/host-history.js';
