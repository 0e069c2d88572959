// The Flex Consumption function app and the platform wiring every deployment needs. The product's own
// settings arrive in appSettings from main.bicep; this file adds how the host reaches storage and telemetry.

@description('Globally unique name of the function app.')
param name string

@description('Region of the app; the plan and storage share it.')
param location string

param tags object = {}

@description('azd service name in azure.yaml; azd finds the app to deploy to by this tag.')
param serviceName string = 'api'

@description('Resource id of the FC1 (Flex Consumption) plan.')
param appServicePlanId string

@description('Storage account that carries the host\'s triggers, the transfer tables and the deployment package.')
param storageAccountName string

@description('Blob container the deployment package is uploaded to.')
param deploymentStorageContainerName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Client id of that identity; it picks the identity when the app holds more than one.')
param identityClientId string

@description('Application Insights connection string (an ingestion address, not a credential: local auth is off).')
param applicationInsightsConnectionString string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Product settings (README, "Settings") merged under the host wiring below.')
param appSettings object = {}

@description('Client id of an Entra ID app registration: App Service Authentication then signs every admin in before the dashboard or the admin API is reached (the function key is still needed). Empty: off, the function key is the only gate.')
param authClientId string = ''

// Reached without signing in: Partner Center cannot sign in (its webhook carries its own signature) and
// the OpenAPI description is public. Everything else, the dashboard included, needs an Entra sign-in.
var authExcludedPaths = [
  '/api/webhooks/partner-center'
  '/api/openapi.json'
]

var storageSuffix = environment().suffixes.storage

// Identity-based AzureWebJobsStorage: the Functions host and shared/settings.py both read these names,
// so the queue trigger and the transfer store use one identity and one set of endpoints.
// FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are deliberately absent: they are deprecated on Flex, which
// takes the runtime from functionAppConfig instead.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: 'https://${storageAccountName}.blob.${storageSuffix}'
  AzureWebJobsStorage__queueServiceUri: 'https://${storageAccountName}.queue.${storageSuffix}'
  AzureWebJobsStorage__tableServiceUri: 'https://${storageAccountName}.table.${storageSuffix}'
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity by this variable.
  AZURE_CLIENT_ID: identityClientId
}

module api 'br/public:avm/res/web/site:0.16.0' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      userAssignedResourceIds: [
        identityResourceId
      ]
    }
    // Key Vault references resolve with this identity, which holds Key Vault Secrets User (rbac.bicep).
    keyVaultAccessIdentityResourceId: identityResourceId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://${storageAccountName}.blob.${storageSuffix}/${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    configs: [
      {
        name: 'appsettings'
        // Host wiring wins a name clash, so a product setting can never redirect storage or telemetry.
        properties: union(appSettings, hostSettings)
      }
    ]
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: name
}

// App Service Authentication ("Easy Auth") with Entra ID. Only users or groups assigned to the app
// registration's enterprise application get a token when it requires assignment (set on the Entra side:
// appRoleAssignmentRequired, see README "Dashboard"). The app itself trusts no principal header.
resource authSettings 'Microsoft.Web/sites/config@2024-11-01' = if (!empty(authClientId)) {
  parent: site
  name: 'authsettingsV2'
  dependsOn: [
    api
  ]
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: authExcludedPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            authClientId
            'api://${authClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostname}'
