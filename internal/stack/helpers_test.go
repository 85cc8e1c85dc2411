package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/sqs"
)

type sqsQueue = sqs.Queue

// statementsIn returns every policy statement anywhere under v: each value of
// a "Statement" key, whether a list of statements or a single one.
func statementsIn(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k != "Statement" {
				out = append(out, statementsIn(e)...)
				continue
			}
			switch st := e.(type) {
			case map[string]any:
				out = append(out, st)
			case []any:
				for _, one := range st {
					if m, ok := one.(map[string]any); ok {
						out = append(out, m)
					}
				}
			}
		}
	case []any:
		for _, e := range v {
			out = append(out, statementsIn(e)...)
		}
	}
	return out
}

// strs reads a policy value that is a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// roleStatements returns the statements of a role's inline policies.
func roleStatements(t *testing.T, s *stack, id string) []map[string]any {
	t.Helper()
	role, err := s.tpl.GetIAMRoleWithName(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, p := range role.Policies {
		out = append(out, statementsIn(p.PolicyDocument)...)
	}
	return out
}

// assertPermissions checks a role allows exactly the given actions on exactly
// the given resources, and denies nothing.
func assertPermissions(t *testing.T, s *stack, id string, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, st := range roleStatements(t, s, id) {
		if st["Effect"] != "Allow" {
			t.Errorf("%s: statement %v is not an Allow", id, st)
		}
		for _, a := range strs(st["Action"]) {
			got[a] = append(got[a], strs(st["Resource"])...)
		}
	}
	norm := func(m map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range m {
			out[k] = slices.Sorted(slices.Values(v))
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s allows\n%v\nwant\n%v", id, readable(g), readable(w))
	}
}

// vpcPermissions are what a function in a VPC needs for its network
// interfaces (as AWSLambdaVPCAccessExecutionRole).
func vpcPermissions() map[string][]string {
	return map[string][]string{
		"ec2:CreateNetworkInterface":     {"*"},
		"ec2:DescribeNetworkInterfaces":  {"*"},
		"ec2:DescribeSubnets":            {"*"},
		"ec2:DeleteNetworkInterface":     {"*"},
		"ec2:AssignPrivateIpAddresses":   {"*"},
		"ec2:UnassignPrivateIpAddresses": {"*"},
	}
}

// readable decodes the intrinsic functions of a permission map for messages.
func readable(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		for _, r := range v {
			out[k] = append(out[k], decoded(r))
		}
	}
	return out
}

// assertEncryptionContext checks a statement only holds for ciphertexts made
// for the ETL function, as the Lambda console's encryption helper makes them.
func assertEncryptionContext(t *testing.T, s *stack, st map[string]any) {
	t.Helper()
	assertEncryptionContextOf(t, s, st, "EtlFunction")
}

// assertEncryptionContextOf checks a statement only holds for ciphertexts
// made for the function fnID.
func assertEncryptionContextOf(t *testing.T, s *stack, st map[string]any, fnID string) {
	t.Helper()
	fn := s.mustFunction(t, fnID)
	want := map[string]any{"StringEquals": map[string]any{"kms:EncryptionContext:LambdaFunctionName": *fn.FunctionName}}
	if !reflect.DeepEqual(st["Condition"], want) {
		t.Errorf("condition %v, want the encryption context LambdaFunctionName = %s", st["Condition"], decoded(*fn.FunctionName))
	}
}

// mustSub returns the template string of an encoded Fn::Sub.
func mustSub(t *testing.T, encoded string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("%q is not an intrinsic function", encoded)
	}
	var fn struct {
		Sub string `json:"Fn::Sub"`
	}
	if err := json.Unmarshal(b, &fn); err != nil || fn.Sub == "" {
		t.Fatalf("%s is not a Fn::Sub of a string", b)
	}
	return fn.Sub
}

func mustQueue(t *testing.T, s *stack, id string) *sqs.Queue {
	t.Helper()
	q, err := s.tpl.GetSQSQueueWithName(id)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustTable(t *testing.T, s *stack, id string) *dynamodb.Table {
	t.Helper()
	tb, err := s.tpl.GetDynamoDBTableWithName(id)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// assertKeys checks a key schema: hash key, and range key unless empty.
func assertKeys(t *testing.T, keys []dynamodb.Table_KeySchema, hash, rangeKey string) {
	t.Helper()
	want := []dynamodb.Table_KeySchema{{AttributeName: hash, KeyType: "HASH"}}
	if rangeKey != "" {
		want = append(want, dynamodb.Table_KeySchema{AttributeName: rangeKey, KeyType: "RANGE"})
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("key schema %+v, want %+v", keys, want)
	}
}

func assertAttributes(t *testing.T, defs []dynamodb.Table_AttributeDefinition, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, d := range defs {
		got[d.AttributeName] = d.AttributeType
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
}

func assertOnDemandEncrypted(t *testing.T, tb *dynamodb.Table) {
	t.Helper()
	if tb.BillingMode == nil || *tb.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode %v, want PAY_PER_REQUEST", tb.BillingMode)
	}
	if tb.SSESpecification == nil || !tb.SSESpecification.SSEEnabled {
		t.Error("SSESpecification.SSEEnabled is not true")
	}
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// show formats a value for a failure message: pointers followed, goformation's
// bookkeeping fields left out, intrinsic functions decoded.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return string(b)
	}
	if s, ok := generic.(string); ok {
		return decoded(s)
	}
	out, _ := json.Marshal(decodeAll(generic))
	return string(out)
}

// decodeAll replaces encoded intrinsic functions under v by their JSON.
func decodeAll(v any) any {
	switch v := v.(type) {
	case string:
		if d := decoded(v); d != v {
			var fn any
			if json.Unmarshal([]byte(d), &fn) == nil {
				return fn
			}
		}
	case map[string]any:
		for k, e := range v {
			v[k] = decodeAll(e)
		}
	case []any:
		for i, e := range v {
			v[i] = decodeAll(e)
		}
	}
	return v
}

// subVariable matches ${Name} and the escape ${!Name} in a Fn::Sub template.
var subVariable = regexp.MustCompile(`\$\{(!?)([^}]+)\}`)

// resolve renders a property value as CloudFormation would with the stack's
// parameter values, showing what only a deployment knows as <Name>: a Ref
// to a resource or pseudo parameter as <Name>, a Fn::GetAtt as <Name.Attr>.
// A Fn::Sub (string or list form) is substituted; ${!x} becomes ${x}.
func (s *stack) resolve(t *testing.T, v string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(v)
	var fn map[string]any
	if err != nil || json.Unmarshal(b, &fn) != nil || len(fn) != 1 {
		return v
	}
	for name, arg := range fn {
		switch name {
		case "Ref":
			return fmt.Sprintf("<%v>", arg)
		case "Fn::GetAtt":
			parts := strs(arg)
			return "<" + strings.Join(parts, ".") + ">"
		case "Fn::Sub":
			var tmpl string
			vars := map[string]string{}
			switch a := arg.(type) {
			case string:
				tmpl = a
			case []any:
				tmpl, _ = a[0].(string)
				m, _ := a[1].(map[string]any)
				for k, x := range m {
					vars[k] = s.resolve(t, fmt.Sprint(x))
				}
			}
			return subVariable.ReplaceAllStringFunc(tmpl, func(m string) string {
				g := subVariable.FindStringSubmatch(m)
				if g[1] == "!" {
					return "${" + g[2] + "}"
				}
				if x, ok := vars[g[2]]; ok {
					return x
				}
				if p, ok := s.params[g[2]]; ok {
					return fmt.Sprint(p)
				}
				return "<" + g[2] + ">"
			})
		}
	}
	t.Fatalf("cannot resolve %s", b)
	return ""
}
