package deploycheck_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// reader reads a resource back through its service's API.
type reader struct {
	// read returns the resource's properties as CloudFormation names and
	// shapes them, given its physical id; only what moto models.
	read func(ctx context.Context, c *clients, physicalID string) (map[string]any, error)
	// ignored are the properties that cannot be read back, mostly because
	// moto's CloudFormation accepts but does not model them, each with what
	// checks it instead (a test of internal/stack).
	ignored map[string]string
}

// readers are the resource types the rehearsal reads back, whatever the
// template's resources of those types are. A template property neither read
// nor ignored is reported as not read back.
var readers = map[string]reader{
	"AWS::Lambda::EventSourceMapping": {read: readEventSourceMapping},
	"AWS::SQS::Queue": {read: readQueue, ignored: map[string]string{
		// moto's queue has no such attribute.
		"SqsManagedSseEnabled": "TestQueues",
	}},
	"AWS::DynamoDB::Table": {read: readTable, ignored: map[string]string{
		// moto's CloudFormation sets neither (its DynamoDB API models both).
		"TimeToLiveSpecification":          "TestTables",
		"PointInTimeRecoverySpecification": "TestTables",
		// moto's CloudFormation looks for SSESpecification.Enabled (the
		// API's name) instead of SSEEnabled, so never encrypts.
		"SSESpecification": "TestTables",
	}},
	"AWS::Lambda::Function": {read: readFunction, ignored: map[string]string{
		// moto's CloudFormation creates every function for x86_64 with no
		// logging configuration and no tags.
		"Architectures": "TestGlobals",
		"LoggingConfig": "TestFunctions",
		"Tags":          "TestFunctions",
		// moto does not say where the code came from; its hash tells.
		"Code": "CodeSha256 compared with the packaged zip's",
	}},
	"AWS::KMS::Key": {read: readKey, ignored: map[string]string{
		// moto's CloudFormation keeps the key policy as an object, not
		// JSON text: GetKeyPolicy returns it as one (which the SDK cannot
		// decode) and DescribeKey fails with an HTTP 500.
		"KeyPolicy":   "TestSecretsKey",
		"Description": "TestSecretsKey",
	}},
	// moto's CloudFormation does not attach a role's ManagedPolicyArns (none
	// of the template's roles has any); a template that sets them gets them
	// reported as not read back.
	"AWS::IAM::Role": {read: readRole},
}

func readEventSourceMapping(ctx context.Context, c *clients, uuid string) (map[string]any, error) {
	m, err := c.lambda.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
	if err != nil {
		return nil, err
	}
	fn := aws.ToString(m.FunctionArn)
	if _, name, ok := strings.Cut(fn, ":function:"); ok {
		fn = name
	}
	props := map[string]any{
		"FunctionName":                   fn,
		"EventSourceArn":                 m.EventSourceArn,
		"BatchSize":                      m.BatchSize,
		"MaximumBatchingWindowInSeconds": m.MaximumBatchingWindowInSeconds,
		"FunctionResponseTypes":          m.FunctionResponseTypes,
		"Enabled":                        aws.ToString(m.State) != "Disabled",
	}
	if m.ScalingConfig != nil {
		props["ScalingConfig"] = map[string]any{"MaximumConcurrency": m.ScalingConfig.MaximumConcurrency}
	}
	return props, nil
}

func readQueue(ctx context.Context, c *clients, queueURL string) (map[string]any, error) {
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	props := map[string]any{}
	for _, name := range []string{"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
		"ReceiveMessageWaitTimeSeconds", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "FifoQueue", "ContentBasedDeduplication", "RedrivePolicy"} {
		if v, ok := out.Attributes[name]; ok {
			props[name] = v
		}
	}
	return props, nil
}

func readTable(ctx context.Context, c *clients, name string) (map[string]any, error) {
	out, err := c.dynamodb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	tb := out.Table
	props := map[string]any{
		"KeySchema":            tb.KeySchema,
		"AttributeDefinitions": tb.AttributeDefinitions,
		"BillingMode":          "PROVISIONED",
	}
	if tb.BillingModeSummary != nil {
		props["BillingMode"] = tb.BillingModeSummary.BillingMode
	}
	var gsis []map[string]any
	for _, g := range tb.GlobalSecondaryIndexes {
		gsis = append(gsis, map[string]any{"IndexName": g.IndexName, "KeySchema": g.KeySchema, "Projection": g.Projection})
	}
	if gsis != nil {
		props["GlobalSecondaryIndexes"] = gsis
	}
	if s := tb.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		props["StreamSpecification"] = map[string]any{"StreamViewType": s.StreamViewType}
	}
	return props, nil
}

func readFunction(ctx context.Context, c *clients, name string) (map[string]any, error) {
	out, err := c.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	cfg := out.Configuration
	props := map[string]any{
		"FunctionName": cfg.FunctionName,
		"Description":  cfg.Description,
		"Handler":      cfg.Handler,
		"Runtime":      cfg.Runtime,
		"MemorySize":   cfg.MemorySize,
		"Timeout":      cfg.Timeout,
		"Role":         cfg.Role,
	}
	if cfg.Environment != nil {
		props["Environment"] = map[string]any{"Variables": cfg.Environment.Variables}
	}
	if v := cfg.VpcConfig; v != nil && len(v.SubnetIds) > 0 {
		props["VpcConfig"] = map[string]any{"SubnetIds": v.SubnetIds, "SecurityGroupIds": v.SecurityGroupIds}
	}
	return props, nil
}

func readKey(ctx context.Context, c *clients, keyID string) (map[string]any, error) {
	rot, err := c.kms.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"EnableKeyRotation": rot.KeyRotationEnabled}, nil
}

func readRole(ctx context.Context, c *clients, name string) (map[string]any, error) {
	r, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	props := map[string]any{
		"AssumeRolePolicyDocument": unescapePolicy(aws.ToString(r.Role.AssumeRolePolicyDocument)),
		"Path":                     r.Role.Path,
	}
	if d := aws.ToString(r.Role.Description); d != "" {
		props["Description"] = d
	}
	var policies []map[string]any
	p := iam.NewListRolePoliciesPaginator(c.iam, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, pn := range page.PolicyNames {
			rp, err := c.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pn)})
			if err != nil {
				return nil, err
			}
			doc, err := policyJSON(unescapePolicy(aws.ToString(rp.PolicyDocument)))
			if err != nil {
				return nil, fmt.Errorf("policy %s: %w", pn, err)
			}
			policies = append(policies, map[string]any{"PolicyName": pn, "PolicyDocument": doc})
		}
	}
	if policies != nil {
		props["Policies"] = policies
	}
	return props, nil
}

// unescapePolicy decodes an IAM policy document as IAM returns it
// (URL-encoded JSON).
func unescapePolicy(doc string) string {
	if s, err := url.QueryUnescape(doc); err == nil {
		return s
	}
	return doc
}

// policyJSON returns an inline policy document as JSON text. moto's
// CloudFormation stores a role's inline policies as Python's text of the
// document (str(dict): single-quoted strings, None for an AWS::NoValue,
// True, False), which pythonToJSON translates.
func policyJSON(doc string) (string, error) {
	if json.Valid([]byte(doc)) {
		return doc, nil
	}
	out, err := pythonToJSON(doc)
	if err != nil || !json.Valid([]byte(out)) {
		return "", fmt.Errorf("neither JSON nor Python's text of a document (%w): %s", err, doc)
	}
	return out, nil
}

// pythonToJSON translates Python's text of a dict, list, str, number, bool
// or None into JSON.
func pythonToJSON(s string) (string, error) {
	var b strings.Builder
	words := strings.NewReplacer("None", "null", "True", "true", "False", "false")
	for len(s) > 0 {
		i := strings.IndexAny(s, `'"`)
		if i < 0 {
			b.WriteString(words.Replace(s))
			break
		}
		b.WriteString(words.Replace(s[:i]))
		quote, str, j := s[i], []byte{}, i+1
		for ; j < len(s) && s[j] != quote; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					str = append(str, '\n')
				case 't':
					str = append(str, '\t')
				default: // \\, \', \"
					str = append(str, s[j])
				}
				continue
			}
			str = append(str, s[j])
		}
		if j == len(s) {
			return "", fmt.Errorf("unterminated string at %d", i)
		}
		q, err := json.Marshal(string(str))
		if err != nil {
			return "", err
		}
		b.Write(q)
		s = s[j+1:]
	}
	return b.String(), nil
}

// canonical returns v (a read-back value or a template property) in one
// comparable form: through JSON; every scalar as a string (a parameter
// reaches a property as "100", the API returns 100); JSON objects held in
// strings (policies, RedrivePolicy) decoded; nulls dropped (moto keeps an
// AWS::NoValue in a list as null, CloudFormation removes it); every list
// sorted, since each list read back here is a set (key schemas carry their
// KeyType, policy statements their Sid).
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return canon(generic), nil
}

func canon(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if e != nil {
				out[k] = canon(e)
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range v {
			if e != nil {
				out = append(out, canon(e))
			}
		}
		slices.SortFunc(out, func(a, b any) int { return strings.Compare(jsonText(a), jsonText(b)) })
		return out
	case string:
		if strings.HasPrefix(strings.TrimSpace(v), "{") {
			var obj map[string]any
			if json.Unmarshal([]byte(v), &obj) == nil {
				return canon(obj)
			}
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return v
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
