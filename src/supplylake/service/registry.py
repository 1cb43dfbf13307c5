"""Which handler serves which operation of the model. Operations missing here answer 501."""

from __future__ import annotations

from supplylake.service import bom, datasets, events, flows, instances, namespaces, tags
from supplylake.service.errors import Handler, answering_aws_errors

_HANDLERS: dict[str, Handler] = {
    "CreateInstance": instances.create_instance,
    "GetInstance": instances.get_instance,
    "ListInstances": instances.list_instances,
    "UpdateInstance": instances.update_instance,
    "DeleteInstance": instances.delete_instance,
    "CreateDataLakeNamespace": namespaces.create_data_lake_namespace,
    "GetDataLakeNamespace": namespaces.get_data_lake_namespace,
    "ListDataLakeNamespaces": namespaces.list_data_lake_namespaces,
    "UpdateDataLakeNamespace": namespaces.update_data_lake_namespace,
    "DeleteDataLakeNamespace": namespaces.delete_data_lake_namespace,
    "CreateDataLakeDataset": datasets.create_data_lake_dataset,
    "GetDataLakeDataset": datasets.get_data_lake_dataset,
    "ListDataLakeDatasets": datasets.list_data_lake_datasets,
    "UpdateDataLakeDataset": datasets.update_data_lake_dataset,
    "DeleteDataLakeDataset": datasets.delete_data_lake_dataset,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "SendDataIntegrationEvent": events.send_data_integration_event,
    "GetDataIntegrationEvent": events.get_data_integration_event,
    "ListDataIntegrationEvents": events.list_data_integration_events,
    "CreateDataIntegrationFlow": flows.create_data_integration_flow,
    "GetDataIntegrationFlow": flows.get_data_integration_flow,
    "ListDataIntegrationFlows": flows.list_data_integration_flows,
    "UpdateDataIntegrationFlow": flows.update_data_integration_flow,
    "DeleteDataIntegrationFlow": flows.delete_data_integration_flow,
    "GetDataIntegrationFlowExecution": flows.get_data_integration_flow_execution,
    "ListDataIntegrationFlowExecutions": flows.list_data_integration_flow_executions,
    "CreateBillOfMaterialsImportJob": bom.create_bill_of_materials_import_job,
    "GetBillOfMaterialsImportJob": bom.get_bill_of_materials_import_job,
}

#: Each operation's handler, answering domain errors as AWS errors (see `service.errors`).
HANDLERS: dict[str, Handler] = {op: answering_aws_errors(h) for op, h in _HANDLERS.items()}
