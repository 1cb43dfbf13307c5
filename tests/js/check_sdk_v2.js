// The AWS JavaScript SDK v2 (the `aws-sdk` package) against a supplylake server.
//
// Usage: node check_sdk_v2.js <instanceId> <botocore service-2.json>
// with SUPPLYLAKE_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION set.
//
// 1. AWS.SupplyChain, as the SDK ships it (SendDataIntegrationEvent and the bill-of-materials
//    operations): every SendDataIntegrationEvent example the SDK ships, sent to <instanceId>;
//    the SDK's CreateBillOfMaterialsImportJob example, its file in the instance's bucket (the
//    Python test puts it there), then GetBillOfMaterialsImportJob until the job has ended.
// 2. The same SDK built from the full service model (AWS.Service with apiConfig): its own
//    serializer, signer and parser through the control plane.
// Prints one JSON object: what each call answered, for the Python test to check.
"use strict";

const fs = require("fs");
const AWS = require("aws-sdk");

const [instanceId, modelPath] = process.argv.slice(2);
const config = {
  endpoint: process.env.SUPPLYLAKE_ENDPOINT,
  region: process.env.AWS_REGION,
  credentials: new AWS.Credentials(process.env.AWS_ACCESS_KEY_ID, process.env.AWS_SECRET_ACCESS_KEY),
  maxRetries: 0,
};

function examples(operation) {
  const file = require.resolve("aws-sdk/apis/supplychain-2024-01-01.examples.json");
  return JSON.parse(fs.readFileSync(file, "utf8")).examples[operation];
}

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { code: err.code, statusCode: err.statusCode, message: err.message };
  }
}

async function shipped() {
  const scn = new AWS.SupplyChain(config);
  const sent = [];
  for (const example of examples("SendDataIntegrationEvent")) {
    const input = { ...example.input, instanceId };
    const answer = await scn.sendDataIntegrationEvent(input).promise();
    sent.push({ title: example.title, eventType: input.eventType, eventId: answer.eventId });
  }
  return { sent, bom: await billOfMaterials(scn) };
}

async function billOfMaterials(scn) {
  // The example's file, in the instance's bucket: supplylake reads BOM files from there only.
  const input = { ...examples("CreateBillOfMaterialsImportJob")[0].input, instanceId };
  input.s3uri = input.s3uri.replace(/^s3:\/\/[^/]+\//, `s3://aws-supply-chain-data-${instanceId}/`);
  const created = await scn.createBillOfMaterialsImportJob(input).promise();
  let job = (await scn.getBillOfMaterialsImportJob({ instanceId, jobId: created.jobId }).promise()).job;
  for (let i = 0; i < 600 && !["SUCCESS", "FAILED"].includes(job.status); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    job = (await scn.getBillOfMaterialsImportJob({ instanceId, jobId: created.jobId }).promise()).job;
  }
  return { s3uri: input.s3uri, jobId: created.jobId, job };
}

async function fullModel() {
  const apiConfig = JSON.parse(fs.readFileSync(modelPath, "utf8"));
  const scn = new AWS.Service({ ...config, apiConfig });
  const created = (await scn.createInstance({ instanceName: "js sdk", tags: { via: "js" } }).promise()).instance;
  let state = created.state;
  for (let i = 0; i < 400 && state !== "Active"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    state = (await scn.getInstance({ instanceId: created.instanceId }).promise()).instance.state;
  }
  const id = created.instanceId;
  const namespace = (await scn.createDataLakeNamespace({ instanceId: id, name: "js_ns", description: "from js" }).promise()).namespace;
  const dataset = (
    await scn
      .createDataLakeDataset({ instanceId: id, namespace: "asc", name: "inbound_order", description: "from js" })
      .promise()
  ).dataset;
  const listed = await scn.listDataLakeDatasets({ instanceId: id, namespace: "js_ns" }).promise();
  await scn.tagResource({ resourceArn: dataset.arn, tags: { team: "js" } }).promise();
  const tags = (await scn.listTagsForResource({ resourceArn: dataset.arn }).promise()).tags;
  const missing = await failure(scn.getDataLakeDataset({ instanceId: id, namespace: "js_ns", name: "nope" }).promise());
  const instances = (await scn.listInstances({ instanceNameFilter: ["js sdk"] }).promise()).instances;
  const deleted = (await scn.deleteInstance({ instanceId: id }).promise()).instance;
  return {
    created: { state: created.state, instanceDescription: created.instanceDescription, kmsKeyArn: created.kmsKeyArn, createdTime: created.createdTime },
    active: state,
    namespace: { name: namespace.name, description: namespace.description },
    dataset: { arn: dataset.arn, description: dataset.description, schemaName: dataset.schema.name },
    listed: listed.datasets.length,
    tags,
    missing,
    instances: instances.map((i) => i.instanceId),
    deleted: deleted.state,
    instanceId: id,
  };
}

(async () => {
  const out = { shipped: await shipped(), fullModel: await fullModel() };
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  process.stderr.write(`${err.code || ""} ${err.stack}\n`);
  process.exit(1);
});
