// The worker bundles this folder: export every workflow here.
export { routeRequest } from './routeRequest';
export { providerHealth } from './providerHealth';
export { budgetWindow } from './budgetWindow';
export { batchSummarize, openaiBatch, operationBatch, batchItem } from './batch';
export { alertMonitor } from './alertMonitor';
export { usageEvents } from './usageEvents';
