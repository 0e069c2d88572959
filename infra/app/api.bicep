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

@description('Product settings (docs/design.md, "Settings") merged under the host wiring below.')
param appSettings object = {}

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

output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostname}'
