// The alerts an operator needs to run the service unattended, all sent to one action group's e-mail.
//
// (b) and (c) query the app's Application Insights `traces` (scoped to the component, so the classic table
// and column names apply: `timestamp`, `customDimensions`). They rely on the structured record
// shared/telemetry.py writes for each workflow step:
//   customDimensions.transfer_id  the transfer's id
//   customDimensions.step         the workflow step's name
//   customDimensions.outcome      'done', 'waiting', 'failed' or 'throttled' ('blocked' once a halt is
//                                 recorded as such; until then a Blocked transfer ends its step as 'done')
//   customDimensions.duration_ms  how long the step ran
// Renaming one breaks an alert silently; tests/infra pins the names the queries use (STEP_PROPERTIES).
//
// (d) queries the structured record shared/telemetry.py writes for each notice about an original subscription
// (original_notice), which carries no step:
//   customDimensions.transfer_id  the transfer's id
//   customDimensions.line_id      the line (its original SKU id)
//   customDimensions.notice       'lapse-at-risk', 'renewed' or 'renewal-reminder'
//   customDimensions.lapses_on    the original's lapse (or renewal) date, yyyy-mm-dd
// tests/infra pins these too (NOTICE_PROPERTIES).
//
// (a) reads the storage account's own queue log (StorageQueueLogs in the Log Analytics workspace, sent by
// the queue service's diagnostic setting in main.bicep): a PutMessage on the poison queue is the host
// giving up on a message. It depends neither on a log line's wording nor on telemetry sampling.

@description('Region of the scheduled query rules (the action group is global).')
param location string

param tags object = {}

@description('Suffix that keeps the alert names unique per environment.')
param resourceToken string

@description('Resource id of the Application Insights component the app writes to.')
param appInsightsResourceId string

@description('Resource id of the Log Analytics workspace that receives the storage queue log.')
param logAnalyticsWorkspaceResourceId string

@description('Storage account whose queues carry the workflow.')
param storageAccountName string

@description('Address the action group e-mails when an alert fires.')
param alertEmail string

@description('Storage queue the workflow reads; the host moves a message to <name>-poison after maxDequeueCount tries.')
param workQueueName string = 'transfer-events'

@minValue(1)
@maxValue(36)
@description('Hours a transfer may stay failed or blocked (its latest step record) before the operator is told.')
param stuckTransferHours int = 4

@minValue(1)
@description('Throttled steps within throttlingWindow that count as sustained throttling.')
param throttledStepsThreshold int = 20

@allowed([
  'PT15M'
  'PT30M'
  'PT1H'
])
@description('Window over which throttled steps are counted.')
param throttlingWindow string = 'PT30M'

var poisonQueueName = '${workQueueName}-poison'
var actions = {
  actionGroupResourceIds: [
    actionGroup.outputs.resourceId
  ]
}

module actionGroup 'br/public:avm/res/insights/action-group:0.8.0' = {
  name: 'alerts-action-group'
  params: {
    name: 'ag-transfer-${resourceToken}'
    // At most 12 characters; shown as the sender of SMS and e-mail notifications.
    groupShortName: 'csptransfer'
    location: 'global'
    tags: tags
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// (a) A message the queue trigger gave up on: the transfer it carried will not move without an operator.
module poisonQueueAlert 'br/public:avm/res/insights/scheduled-query-rule:0.6.0' = {
  name: 'alert-poison-queue'
  params: {
    name: 'alert-poison-queue-${resourceToken}'
    alertDisplayName: 'Transfer event moved to ${poisonQueueName}'
    alertDescription: 'The queue trigger gave up on a message after maxDequeueCount tries and moved it to ${poisonQueueName}. Inspect the message, fix the cause, then re-drive the transfer (POST /api/transfers/{id}/retry).'
    location: location
    tags: tags
    scopes: [
      logAnalyticsWorkspaceResourceId
    ]
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criterias: {
      allOf: [
        {
          query: 'StorageQueueLogs | where AccountName == "${storageAccountName}" and OperationName == "PutMessage" and Uri contains "/${poisonQueueName}/"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}

// (b) A transfer whose latest step record is failed (or blocked) and older than stuckTransferHours: nothing,
// neither the retries nor the timer's nudge, has moved it on. One alert per transfer (split by transferId).
module stuckTransferAlert 'br/public:avm/res/insights/scheduled-query-rule:0.6.0' = {
  name: 'alert-stuck-transfer'
  params: {
    name: 'alert-stuck-transfer-${resourceToken}'
    alertDisplayName: 'Transfer failed or blocked for over ${stuckTransferHours} h'
    alertDescription: 'A transfer has been failed or blocked for longer than ${stuckTransferHours} hours. Read its history (GET /api/transfers/{id}), then approve, retry or cancel it.'
    location: location
    tags: tags
    scopes: [
      appInsightsResourceId
    ]
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    // The query looks back two days (the longest a log alert may), so the threshold stays below that.
    queryTimeRange: 'P2D'
    criterias: {
      allOf: [
        {
          query: 'traces | where isnotempty(customDimensions.transfer_id) and isnotempty(customDimensions.step) | extend transferId = tostring(customDimensions.transfer_id), outcome = tostring(customDimensions.outcome) | summarize arg_max(timestamp, outcome) by transferId | where outcome in ("failed", "blocked") and timestamp < ago(${stuckTransferHours}h)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'transferId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}

// (c) Partner Center or Graph throttling the service for a sustained period: steps keep going back on the
// queue instead of progressing, and transfers fall behind their cutover dates.
module throttlingAlert 'br/public:avm/res/insights/scheduled-query-rule:0.6.0' = {
  name: 'alert-sustained-throttling'
  params: {
    name: 'alert-sustained-throttling-${resourceToken}'
    alertDisplayName: 'Sustained throttling of workflow steps'
    alertDescription: 'More than ${throttledStepsThreshold} workflow steps were throttled within ${throttlingWindow}. Check the Partner Center and Graph request rates and lower maximumInstanceCount if needed.'
    location: location
    tags: tags
    scopes: [
      appInsightsResourceId
    ]
    severity: 3
    evaluationFrequency: 'PT5M'
    windowSize: throttlingWindow
    criterias: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.outcome) == "throttled"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: throttledStepsThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}

// (d) An original subscription bought elsewhere needs someone: its line is not moved yet and it lapses within the
// cutover lead (EXPIRY_LEAD_DAYS) while its transfer is Blocked or Failed ('lapse-at-risk': its users keep only
// the lapsing licence), it renewed after its users were moved ('renewed': the customer pays twice), or the
// customer must turn its auto-renew off before its date ('renewal-reminder'). Each is recorded once, in the
// transfer's history too. One alert per transfer and notice.
module originalsAlert 'br/public:avm/res/insights/scheduled-query-rule:0.6.0' = {
  name: 'alert-originals'
  params: {
    name: 'alert-originals-${resourceToken}'
    alertDisplayName: 'An original subscription needs attention'
    alertDescription: 'An original subscription bought elsewhere lapses while its transfer is blocked or failed, renewed after the cutover, or needs its auto-renew turned off by the customer. Read the transfer\'s history (GET /api/transfers/{id}), then retry, approve or cancel it, or tell the customer.'
    location: location
    tags: tags
    scopes: [
      appInsightsResourceId
    ]
    severity: 2
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criterias: {
      allOf: [
        {
          query: 'traces | where isnotempty(customDimensions.notice) | extend transferId = tostring(customDimensions.transfer_id), notice = tostring(customDimensions.notice)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'transferId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'notice'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: actions
  }
}
