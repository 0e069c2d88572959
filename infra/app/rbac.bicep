// Every data-plane grant in one place. Names are guid(scope, principal, role) so a re-deployment finds the
// same assignment instead of failing on a duplicate, and each role sits on the one resource that needs it.

param storageAccountName string
param appInsightsName string
param keyVaultName string

@description('Principal id of the app\'s user-assigned identity.')
param identityPrincipalId string

@description('Object id of the developer or operator; empty grants them nothing.')
param developerPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'

// Built-in role definition ids (stable across tenants).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

// Blob Data Owner (not Contributor): the host manages blob leases and the deployment package container.
var storageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

var hasDeveloper = !empty(developerPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

// ---- The app's identity -------------------------------------------------------------------------------

resource identityStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Needed because Application Insights local auth is off: ingestion is accepted only with this role.
resource identityTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only on secrets: the app resolves its Key Vault references but can never change a secret.
resource identitySecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identityPrincipalId, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- The developer or operator (optional) -------------------------------------------------------------

// An empty list rather than a loop filter: same effect, and offline parsers (pycep) read it.
resource developerStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (hasDeveloper ? storageRoles : []): {
    name: guid(storage.id, developerPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: developerPrincipalId
      principalType: developerPrincipalType
    }
  }
]

resource developerTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasDeveloper) {
  name: guid(appInsights.id, developerPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

// Secrets Officer: the operator is who puts PARTNER_CLIENT_SECRET and PARTNER_REFRESH_TOKEN into the vault.
resource developerSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasDeveloper) {
  name: guid(keyVault.id, developerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}
