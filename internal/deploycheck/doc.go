// Package deploycheck holds no code: its test rehearses `sam deploy` of
// template.yaml against moto_server, the Python AWS emulator, as a new operator
// would run it (`make deploy-check`):
//
//  1. build each function of the template with the Makefile's
//     build-<Function> target (SAM's makefile build method, ARTIFACTS_DIR),
//     zip the artifacts and upload them to an S3 bucket, as `sam package` does;
//  2. transform the template with aws-sam-translator, the library behind
//     CloudFormation's AWS::Serverless-2016-10-31 transform
//     (scripts/sam-transform.py);
//  3. create the stack in moto's CloudFormation, once per parameter set, and
//     print each resource with its status and each output;
//  4. read back through the service APIs what moto models (event source
//     mappings, queues, tables, functions, keys, roles) and compare it with the
//     template's properties as CloudFormation resolved them.
//
// It fails on a transform error, a resource that is not CREATE_COMPLETE or that
// moto silently dropped, an unresolved output, or a read-back mismatch. It
// discovers the resources of whatever template it is given: a resource type
// moto's CloudFormation does not create must be listed in unmodeledTypes with
// the template test (internal/stack) that checks it instead, or the rehearsal
// fails.
//
// What it cannot prove (only a real `sam deploy` can): IAM permissions are
// enough at run time, the service limits and validations AWS applies and moto
// does not (reserved names, quotas, property combinations), the properties
// moto accepts but ignores (see the readers), and the resource types moto does
// not model at all.
package deploycheck
