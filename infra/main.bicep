// The whole Azure footprint of the transfer service, provisioned by `azd up` (or `az deployment sub create`).
// Shape follows Azure-Samples/functions-quickstart-python-http-azd: subscription scope, one resource group,
// Azure Verified Modules pinned to exact versions, a user-assigned identity that owns every data-plane grant,
// and a Flex Consumption app that reaches storage, telemetry and Key Vault without any key or connection string.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------
// Environment (azd fills these from the azd environment, see main.parameters.json)
// ---------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Optional: client id of an Entra ID app registration for App Service Authentication in front of the dashboard and the admin API (README, "Dashboard"). Empty: the function key is the only gate.')
param dashboardAuthClientId string = ''

@description('Name of the azd environment; seeds every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for every resource. Only regions that offer Flex Consumption are allowed.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the developer or operator running the deployment. They get data-plane roles to debug storage and to put the partner secrets into Key Vault. Leave empty in production pipelines.')
param principalId string = ''

@description('Kind of principal behind principalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

// ---------------------------------------------------------------------------------------------------------
// Product settings (README, "Settings"): each parameter becomes the app setting of the same meaning
// ---------------------------------------------------------------------------------------------------------

@minLength(36)
@maxLength(36)
@description('PARTNER_TENANT_ID: Entra tenant id of the CSP partner.')
param partnerTenantId string

@minLength(36)
@maxLength(36)
@description('PARTNER_CLIENT_ID: application (client) id of the partner\'s app registration.')
param partnerClientId string

@minLength(2)
@maxLength(2)
@description('PARTNER_COUNTRY: ISO 3166-1 alpha-2 code of the partner\'s location; its CSP region follows.')
param partnerCountry string

@minLength(36)
@maxLength(36)
@description('GDAP_SECURITY_GROUP_ID: object id of the security group in the partner tenant that each customer\'s GDAP access assignment gives the relationship\'s roles; the partner user of the stored refresh token must be a member.')
param gdapSecurityGroupId string

@allowed([
  'end'
  'reduce'
])
@description('GDAP_AFTER_COMPLETION: what becomes of a customer\'s GDAP relationship once its transfer is done: reduce its access assignment to Directory Readers until the originals have lapsed, then end it (least privilege that still notices a renewal), or end it at once.')
param gdapAfterCompletion string = 'reduce'

@description('PARTNER_CENTER_ENDPOINT: Partner Center API base URL.')
param partnerCenterEndpoint string = 'https://api.partnercenter.microsoft.com'

@description('GRAPH_ENDPOINT: Microsoft Graph base URL.')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('AUTHORITY_HOST: Entra authority host. Taken from the target cloud so sovereign clouds work unchanged.')
param authorityHost string = environment().authentication.loginEndpoint

@description('WEBHOOK_CERT_HOSTS: comma-separated hosts allowed to serve the Partner Center webhook signing certificate.')
param webhookCertHosts string = '3psostorageacct.blob.${environment().suffixes.storage}'

@description('WEBHOOK_TRUST_ROOTS: path of a PEM bundle the signing certificate must chain to. Empty: system roots.')
param webhookTrustRoots string = ''

@minValue(0)
@maxValue(90)
@description('EXPIRY_LEAD_DAYS: how many days before an original subscription\'s next lifecycle date the cutover runs.')
param expiryLeadDays int = 7

@minValue(0)
@maxValue(24)
@description('ORIGINALS_READ_HOURS: how often the timer has each transfer\'s originals read in the customer\'s tenant when no stored date (a lapse, the cutover lead before it) calls for a read sooner. 0: on every scan.')
param originalsReadHours int = 6

@description('PARTNER_CENTER_QUOTA: Partner Center calls per seconds all instances together pace themselves to (calls/seconds): Partner Center\'s 500 requests per minute per partner tenant. Lower it when other tools spend the same quota.')
param partnerCenterQuota string = '500/60'

@description('GRAPH_WRITE_QUOTA: Graph licence writes per seconds a cutover keeps to in one customer tenant (calls/seconds): Graph\'s 3,000 identity and access writes per 150 s per app and tenant.')
param graphWriteQuota string = '3000/150'

@description('TRANSFER_SCAN_SCHEDULE: NCRONTAB (six fields, UTC) of the timer that backs up missed webhooks and nudges stuck transfers.')
param transferScanSchedule string = '0 */5 * * * *'

@description('SKU_REFERENCE_URL: Microsoft\'s licensing CSV (product names and service plan identifiers).')
param skuReferenceUrl string = 'https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-c6089a1fc5b0/Product%20names%20and%20service%20plan%20identifiers%20for%20licensing.csv'

// The two secrets normally never pass through a deployment: the operator stores them in Key Vault
// (`az keyvault secret set`). These exist for pipelines that hold them in their own secret store.
@secure()
@description('Optional. Written to Key Vault as the partner app\'s client secret when not empty.')
param partnerClientSecret string = ''

@secure()
@description('Optional. Written to Key Vault as the consented partner admin\'s refresh token when not empty.')
param partnerRefreshToken string = ''

@description('True once the refresh token is in Key Vault (stored by the consent script): the app then gets the role to write rotated tokens back to that secret.')
param partnerRefreshTokenStored bool = false

// ---------------------------------------------------------------------------------------------------------
// Alerts (app/alerts.bicep)
// ---------------------------------------------------------------------------------------------------------

@minLength(3)
@description('E-mail address the alerts go to: poison-queue messages, stuck transfers, sustained throttling.')
param alertEmail string

@minValue(1)
@maxValue(36)
@description('Hours a transfer may stay failed or blocked before the operator is alerted.')
param stuckTransferHours int = 4

@minValue(1)
@description('Throttled workflow steps within 30 minutes that count as sustained throttling.')
param throttledStepsThreshold int = 20

// ---------------------------------------------------------------------------------------------------------
// Scale and safety knobs
// ---------------------------------------------------------------------------------------------------------

@minValue(40)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances; 40 is the lowest the platform accepts.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory per Flex Consumption instance.')
param instanceMemoryMB int = 2048

@description('Purge protection keeps a deleted vault (and the partner\'s refresh token) recoverable for 90 days. It cannot be turned off once on; set false only for throwaway environments.')
param keyVaultPurgeProtection bool = true

// ---------------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('./abbreviations.json')
// Stable per subscription, environment and region, so re-provisioning updates rather than duplicates.
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
// Key Vault secret names allow only letters, digits and dashes, hence not the app setting names.
var secretNames = {
  clientSecret: 'partner-client-secret'
  refreshToken: 'partner-refresh-token'
}

// ---------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// One identity for the app: storage, telemetry and Key Vault grants survive re-creating the app itself.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

// Queues and tables hold the transfer records and the workflow; the blob container holds the deployed package.
// Shared keys are off, so every caller (host, app, developer) authenticates with Entra ID.
module storage 'br/public:avm/res/storage/storage-account:0.25.0' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentStorageContainerName
        }
      ]
    }
    // Queue writes go to Log Analytics: the poison-queue alert (app/alerts.bicep) watches for PutMessage there.
    queueServices: {
      diagnosticSettings: [
        {
          name: 'queue-writes'
          workspaceResourceId: logAnalytics.outputs.resourceId
          logCategoriesAndGroups: [
            {
              category: 'StorageWrite'
            }
          ]
        }
      ]
    }
    tableServices: {}
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

// Local auth off: telemetry is accepted only from identities holding Monitoring Metrics Publisher.
module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    zoneRedundant: false
  }
}

// RBAC-only vault: no access policies, so who may read the partner's secrets is visible in one place (rbac.bicep).
module keyVault 'br/public:avm/res/key-vault/vault:0.13.0' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    sku: 'standard'
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: keyVaultPurgeProtection
    enableVaultForDeployment: false
    enableVaultForDiskEncryption: false
    enableVaultForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

module secrets 'app/secrets.bicep' = {
  name: 'secrets'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    clientSecretName: secretNames.clientSecret
    refreshTokenName: secretNames.refreshToken
    identityPrincipalId: identity.outputs.principalId
    refreshTokenStored: partnerRefreshTokenStored
    partnerClientSecret: partnerClientSecret
    partnerRefreshToken: partnerRefreshToken
  }
}

// What the product reads (shared/settings.py). The secrets are Key Vault references resolved by the platform
// with the app's identity; versionless URIs pick up a rotated secret without redeploying.
var productSettings = {
  PARTNER_CENTER_ENDPOINT: partnerCenterEndpoint
  GRAPH_ENDPOINT: graphEndpoint
  AUTHORITY_HOST: authorityHost
  PARTNER_TENANT_ID: partnerTenantId
  PARTNER_CLIENT_ID: partnerClientId
  PARTNER_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${secretNames.clientSecret})'
  PARTNER_REFRESH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${secretNames.refreshToken})'
  PARTNER_REFRESH_TOKEN_SECRET_URI: '${keyVault.outputs.uri}secrets/${secretNames.refreshToken}'
  PARTNER_COUNTRY: toUpper(partnerCountry)
  GDAP_SECURITY_GROUP_ID: gdapSecurityGroupId
  GDAP_AFTER_COMPLETION: gdapAfterCompletion
  WEBHOOK_CERT_HOSTS: webhookCertHosts
  WEBHOOK_TRUST_ROOTS: webhookTrustRoots
  EXPIRY_LEAD_DAYS: string(expiryLeadDays)
  ORIGINALS_READ_HOURS: string(originalsReadHours)
  PARTNER_CENTER_QUOTA: partnerCenterQuota
  GRAPH_WRITE_QUOTA: graphWriteQuota
  SKU_REFERENCE_URL: skuReferenceUrl
  TRANSFER_SCAN_SCHEDULE: transferScanSchedule
}

// Created after its roles and secrets, so the first start already resolves the Key Vault references and
// can write telemetry, instead of running on an unresolved reference until the platform next refreshes it.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  dependsOn: [
    rbac
    secrets
  ]
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: plan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    appSettings: productSettings
    authClientId: dashboardAuthClientId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    keyVaultName: keyVault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    appInsightsResourceId: monitoring.outputs.resourceId
    logAnalyticsWorkspaceResourceId: logAnalytics.outputs.resourceId
    storageAccountName: storage.outputs.name
    alertEmail: alertEmail
    stuckTransferHours: stuckTransferHours
    throttledStepsThreshold: throttledStepsThreshold
  }
}

// ---------------------------------------------------------------------------------------------------------
// Outputs (azd writes them into the environment's .env; none of them is a secret)
// ---------------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_URI string = api.outputs.SERVICE_API_URI
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
