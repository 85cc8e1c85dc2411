package deploycheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/testenv"
)

const (
	region          = testenv.Region
	artifactsBucket = "reports-deploy-rehearsal"
	// stackTimeout bounds one stack's creation in moto (it takes about a second).
	stackTimeout = 2 * time.Minute
)

// ciphertexts stand for the two KMS ciphertext parameters, which have no
// default; nothing decrypts them in a rehearsal.
var ciphertexts = map[string]string{
	"QuandlApiKeyCiphertext": "AQICAHhquandlkeyciphertext==",
	"DatabaseUrlCiphertext":  "AQICAHhdatabaseurlciphertext==",
}

// parameterSets are the ways the stack is rehearsed. Between them, every
// condition of the template must be both true and false (the test fails
// otherwise), so every conditional resource and property is created once.
var parameterSets = []struct {
	name string
	// params returns the parameter values; it may first create in moto the
	// resources they name.
	params func(t *testing.T, c *clients) map[string]string
}{
	{"defaults", func(*testing.T, *clients) map[string]string { return maps.Clone(ciphertexts) }},
	{"existing-resources", func(t *testing.T, c *clients) map[string]string {
		// An existing key, a VPC, the reporting UI's role and an alarm topic
		// (testdata/existing-resources.yaml), and every other parameter off
		// its default.
		params := mustCreateStack(t, c, "existing-resources", mustRead(t, filepath.Join("testdata", "existing-resources.yaml")), nil)
		maps.Copy(params, ciphertexts)
		maps.Copy(params, map[string]string{
			"ExactlyOnce":                    "false",
			"HealthcheckUrl":                 "https://hc.example.com/ping/etl",
			"BatchSize":                      "10",
			"MaximumBatchingWindowInSeconds": "1",
			"MaximumConcurrency":             "2",
			"MaxReceiveCount":                "3",
			"LogLevel":                       "DEBUG",
			"LogRetentionDays":               "7",
			"QuandlConcurrency":              "4",
			"QuandlBaseUrl":                  "https://quandl.example.com/api/v3",
			"ScheduleTimezone":               "Europe/Berlin",
			"OldestMessageAgeAlarmSeconds":   "600",
			"ApiDatabaseUrlCiphertext":       "AQICAHhapidatabaseurlciphertext==",
			"ApiAllowOrigins":                "https://reports.example.com",
			"LakeEnabled":                    "true",
			"LakeBucketName":                 "existing-lake-bucket",
			"LakePrefix":                     "markets-lake",
			"EtlCatalog":                     "catalogs/maintained.json",
			"FredApiKeyCiphertext":           "AQICAHhfredapikeyciphertext==",
		})
		return params
	}},
	{"lake-only", func(*testing.T, *clients) map[string]string {
		// The lake in a bucket of the stack's own, and no PostgreSQL.
		return map[string]string{"QuandlApiKeyCiphertext": ciphertexts["QuandlApiKeyCiphertext"], "DatabaseEnabled": "false", "LakeEnabled": "true"}
	}},
}

// TestRehearseDeploy rehearses `sam deploy` of template.yaml in moto, once per
// parameter set (see the package documentation), after checking in the same
// moto what unmodeledTypes says of it.
func TestRehearseDeploy(t *testing.T) {
	requireTools(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// DEPLOY_CHECK_TEMPLATE rehearses another template (a draft, say),
	// with the same parameter sets.
	template := os.Getenv("DEPLOY_CHECK_TEMPLATE")
	if template == "" {
		template = filepath.Join(root, "template.yaml")
	}
	_, motoLog := testenv.Moto(t)
	c := newClients(t, motoLog)
	type typesOrErr struct {
		types map[string]bool
		err   error
	}
	modeledTypes := make(chan typesOrErr, 1) // read while the functions build
	go func() {
		types, err := motoModeledTypes(root)
		modeledTypes <- typesOrErr{types, err}
	}()

	if !t.Run("unmodeled-types", func(t *testing.T) { checkUnmodeledTypes(t, c) }) {
		return
	}

	start := time.Now()
	code := mustBuildAndPackage(t, c, root, template, artifactsBucket)
	t.Logf("built and packaged %d functions in %s", len(code), time.Since(start).Round(time.Millisecond))

	modeled := <-modeledTypes
	if modeled.err != nil {
		t.Fatal(modeled.err)
	}
	seen := map[string][]bool{} // condition -> the values it took
	for _, set := range parameterSets {
		ok := t.Run(set.name, func(t *testing.T) {
			start := time.Now()
			conditions := rehearse(t, c, modeled.types, root, template, "reports-"+set.name, set.params(t, c), code)
			for name, v := range conditions {
				if !slices.Contains(seen[name], v) {
					seen[name] = append(seen[name], v)
				}
			}
			t.Logf("rehearsed in %s", time.Since(start).Round(time.Millisecond))
		})
		if !ok {
			return
		}
	}
	for _, name := range sortedKeys(seen) {
		if len(seen[name]) != 2 {
			t.Errorf("condition %s was %v in every parameter set: add a set to parameterSets where it is %v", name, seen[name][0], !seen[name][0])
		}
	}
}

// rehearse transforms the template with params, creates the stack in moto,
// reports and checks its resources, its outputs, what can be read back and
// the functions' code, and returns the values of the template's conditions.
func rehearse(t *testing.T, c *clients, modeled map[string]bool, root, template, stackName string, params map[string]string, code map[string]packagedCode) map[string]bool {
	t.Helper()
	tpl := mustTransform(t, root, template, params, code)
	mustKnowEveryType(t, tpl, modeled)
	body, p := mustPrepareForMoto(t, tpl, func(typ string) bool {
		_, ok := readers[typ]
		return ok
	})
	s := &stack{name: stackName, plan: p, outputs: mustCreateStack(t, c, stackName, body, params), conditions: map[string]bool{}}
	s.resources = mustListResources(t, c, stackName)
	for _, name := range p.conditions {
		_, s.conditions[name] = s.outputs[conditionOutputPrefix+name]
	}
	t.Logf("conditions: %v", s.conditions)

	s.checkResources(t)
	s.checkOutputs(t)
	s.readBack(t, c)
	s.checkCode(t, c, code)
	return s.conditions
}

// stack is a stack the rehearsal created in moto.
type stack struct {
	name       string
	plan       *plan
	outputs    map[string]string // includes the rehearsal's own outputs
	resources  []cfntypes.StackResourceSummary
	conditions map[string]bool
}

// exists reports whether the template creates a resource or output with the
// stack's parameters: it has no condition, or a true one.
func (s *stack) exists(m map[string]any) bool {
	name, _ := m["Condition"].(string)
	return name == "" || s.conditions[name]
}

// physicalID returns a resource's physical id, "" for none.
func (s *stack) physicalID(logicalID string) string {
	for _, r := range s.resources {
		if aws.ToString(r.LogicalResourceId) == logicalID {
			return aws.ToString(r.PhysicalResourceId)
		}
	}
	return ""
}

// checkResources prints every resource the template creates with these
// parameters and checks it is CREATE_COMPLETE (a stand-in for a type moto
// does not model counts), and that the stack holds no other.
func (s *stack) checkResources(t *testing.T) {
	t.Helper()
	created := map[string]cfntypes.StackResourceSummary{}
	skipped := 0
	for _, r := range s.resources {
		id := aws.ToString(r.LogicalResourceId)
		if id == "" {
			skipped++ // what moto does with a type it does not create
			continue
		}
		created[id] = r
	}
	var table bytes.Buffer
	w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "RESOURCE\tTYPE\tSTATUS\tPHYSICAL ID")
	var missing []string
	for _, id := range sortedKeys(s.plan.resources) {
		res := s.plan.resources[id]
		typ, _ := res["Type"].(string)
		r, ok := created[id]
		delete(created, id)
		switch {
		case !s.exists(res):
			if ok {
				t.Errorf("%s (%s): created though its condition %v is false", id, typ, res["Condition"])
			}
			continue
		case !ok:
			missing = append(missing, fmt.Sprintf("%s (%s)", id, typ))
			fmt.Fprintf(w, "%s\t%s\tNOT CREATED\t-\n", id, typ)
			continue
		}
		status := string(r.ResourceStatus)
		if r.ResourceStatus != cfntypes.ResourceStatusCreateComplete {
			t.Errorf("%s (%s): %s %s", id, typ, status, aws.ToString(r.ResourceStatusReason))
		}
		if _, standIn := s.plan.standIns[id]; standIn {
			status = fmt.Sprintf("NOT MODELED BY MOTO (stand-in %s; %s checks it)", status, unmodeledTypes[typ])
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", id, typ, status, aws.ToString(r.PhysicalResourceId))
	}
	w.Flush()
	t.Logf("resources of stack %s:\n%s", s.name, table.String())
	if len(missing) > 0 {
		t.Errorf("moto did not create %s (it skipped %d resources without an error): if moto does not model the type, "+
			"add it to unmodeledTypes with the internal/stack test that checks it", strings.Join(missing, ", "), skipped)
	}
	for id, r := range created {
		t.Errorf("stack resource %s (%s) is not in the template", id, aws.ToString(r.ResourceType))
	}
}

// checkOutputs prints every output the template declares with these
// parameters and checks it resolved.
func (s *stack) checkOutputs(t *testing.T) {
	t.Helper()
	var table bytes.Buffer
	w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "OUTPUT\tVALUE")
	for _, id := range sortedKeys(s.plan.outputs) {
		if !s.exists(s.plan.outputs[id]) {
			continue
		}
		v, ok := s.outputs[id]
		note := ""
		switch {
		case !ok:
			t.Errorf("output %s: missing (moto drops an output whose value it cannot resolve)", id)
			note = "MISSING"
		case unresolved(v):
			t.Errorf("output %s: unresolved value %q", id, v)
			note = "UNRESOLVED"
		case strings.Contains(v, standInMarker):
			note = "(refers to a resource moto does not model)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", id, v, note)
	}
	w.Flush()
	t.Logf("outputs of stack %s:\n%s", s.name, table.String())
}

// readBack reads every resource of a type in readers back through its
// service's API, prints what it read and checks it equals the template's
// properties as CloudFormation resolved them.
func (s *stack) readBack(t *testing.T, c *clients) {
	t.Helper()
	var report strings.Builder
	for _, id := range sortedKeys(s.plan.resources) {
		res := s.plan.resources[id]
		typ, _ := res["Type"].(string)
		rd, ok := readers[typ]
		if _, standIn := s.plan.standIns[id]; !ok || standIn || !s.exists(res) {
			continue
		}
		physical := s.physicalID(id)
		got, err := rd.read(context.Background(), c, physical)
		if err != nil {
			t.Errorf("read back %s (%s %s): %v", id, typ, physical, err)
			continue
		}
		want := mustResolvedProperties(t, s.outputs, id)
		fmt.Fprintf(&report, "%s (%s):\n", id, typ)
		var notRead []string
		for _, prop := range sortedKeys(want) {
			if check, ok := rd.ignored[prop]; ok {
				notRead = append(notRead, prop+" ("+check+")")
				continue
			}
			g, ok := got[prop]
			if !ok {
				notRead = append(notRead, prop)
				continue
			}
			wc, err1 := canonical(want[prop])
			gc, err2 := canonical(g)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatalf("%s.%s: %v", id, prop, err)
			}
			if !reflect.DeepEqual(wc, gc) {
				t.Errorf("%s.%s read back as %s, the template says %s", id, prop, jsonText(gc), jsonText(wc))
				fmt.Fprintf(&report, "  %s = %s   MISMATCH (template: %s)\n", prop, jsonText(gc), jsonText(wc))
				continue
			}
			fmt.Fprintf(&report, "  %s = %s\n", prop, jsonText(gc))
		}
		if len(notRead) > 0 {
			fmt.Fprintf(&report, "  not read back: %s\n", strings.Join(notRead, ", "))
		}
	}
	t.Logf("read back from stack %s:\n%s", s.name, report.String())
}

// checkCode checks each function runs the code that was packaged for it.
func (s *stack) checkCode(t *testing.T, c *clients, code map[string]packagedCode) {
	t.Helper()
	for _, id := range sortedKeys(code) {
		name := s.physicalID(id)
		if name == "" {
			continue // not created with these parameters
		}
		fn, err := c.lambda.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Errorf("read back %s: %v", id, err)
		} else if got := aws.ToString(fn.Configuration.CodeSha256); got != code[id].CodeSha256 {
			t.Errorf("%s runs code %s, want the packaged zip's %s", id, got, code[id].CodeSha256)
		}
	}
}

// motoModeledTypes returns the resource types moto's CloudFormation
// creates, from moto's own table of them.
func motoModeledTypes(root string) (map[string]bool, error) {
	cmd := exec.Command("python3", "-c", "import json; from moto.cloudformation.parsing import get_model_map; print(json.dumps(sorted(get_model_map())))")
	cmd.Dir = root
	out, err := cmd.Output()
	var types []string
	if err == nil {
		err = json.Unmarshal(out, &types)
	}
	if err != nil || len(types) == 0 {
		return nil, fmt.Errorf("moto's resource types: %w %s", err, out)
	}
	modeled := map[string]bool{}
	for _, typ := range types {
		modeled[typ] = true
	}
	return modeled, nil
}

// mustKnowEveryType fails, before moto sees the template, on a resource type
// moto does not create that is not in unmodeledTypes: moto would skip it
// silently, or fail the whole stack with an HTTP 500 on a Fn::GetAtt of it.
func mustKnowEveryType(t *testing.T, tpl map[string]any, modeled map[string]bool) {
	t.Helper()
	resources, _ := tpl["Resources"].(map[string]any)
	var unknown []string
	for _, id := range sortedKeys(resources) {
		res, _ := resources[id].(map[string]any)
		typ, _ := res["Type"].(string)
		if !modeled[typ] && unmodeledTypes[typ] == "" {
			unknown = append(unknown, fmt.Sprintf("%s (%s)", id, typ))
		}
	}
	if len(unknown) > 0 {
		t.Fatalf("moto's CloudFormation does not create %s: add each type to unmodeledTypes (standin_test.go) "+
			"with the internal/stack test that checks its resources property by property", strings.Join(unknown, ", "))
	}
}

// mustCreateStack creates a stack in moto from a template body with the
// parameter values, waits until it is created and returns its outputs. A
// failure shows the stack's failed events and the end of moto's log.
func mustCreateStack(t *testing.T, c *clients, name string, body []byte, params map[string]string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stackTimeout)
	defer cancel()
	in := &cloudformation.CreateStackInput{
		StackName:    aws.String(name),
		TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}, // as samconfig.toml
	}
	for _, k := range sortedKeys(params) {
		in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(params[k])})
	}
	if _, err := c.cfn.CreateStack(ctx, in); err != nil {
		t.Fatalf("create stack %s: %v\nmoto's log ends:\n%s", name, err, c.motoLogTail())
	}
	for {
		out, err := c.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
		if err != nil {
			t.Fatalf("describe stack %s: %v", name, err)
		}
		st := out.Stacks[0]
		status := string(st.StackStatus)
		if strings.HasSuffix(status, "_IN_PROGRESS") {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if st.StackStatus != cfntypes.StackStatusCreateComplete {
			t.Fatalf("stack %s: %s %s\n%s\nmoto's log ends:\n%s", name, status, aws.ToString(st.StackStatusReason), failedEvents(ctx, c, name), c.motoLogTail())
		}
		outputs := map[string]string{}
		for _, o := range st.Outputs {
			outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		return outputs
	}
}

// failedEvents lists the stack's failed resource events, for a failure message.
func failedEvents(ctx context.Context, c *clients, name string) string {
	var b strings.Builder
	p := cloudformation.NewDescribeStackEventsPaginator(c.cfn, &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			fmt.Fprintf(&b, "stack events: %v\n", err)
			break
		}
		for _, e := range page.StackEvents {
			if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") {
				fmt.Fprintf(&b, "%s (%s): %s %s\n", aws.ToString(e.LogicalResourceId), aws.ToString(e.ResourceType), e.ResourceStatus, aws.ToString(e.ResourceStatusReason))
			}
		}
	}
	return b.String()
}

func mustListResources(t *testing.T, c *clients, name string) []cfntypes.StackResourceSummary {
	t.Helper()
	var out []cfntypes.StackResourceSummary
	p := cloudformation.NewListStackResourcesPaginator(c.cfn, &cloudformation.ListStackResourcesInput{StackName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list resources of stack %s: %v", name, err)
		}
		out = append(out, page.StackResourceSummaries...)
	}
	return out
}

// mustResolvedProperties returns a resource's properties as CloudFormation
// resolved them, from the probe output the rehearsal added.
func mustResolvedProperties(t *testing.T, outputs map[string]string, id string) map[string]any {
	t.Helper()
	v, ok := outputs[propertiesOutputPrefix+id]
	if !ok {
		t.Fatalf("%s: moto did not resolve its properties (output %s%s missing)", id, propertiesOutputPrefix, id)
	}
	props := map[string]any{}
	if v != "null" {
		if err := json.Unmarshal([]byte(v), &props); err != nil {
			t.Fatalf("%s: resolved properties %q: %v", id, v, err)
		}
	}
	return props
}

// unresolved reports an output value that still holds an intrinsic function
// or nothing: what moto leaves of a reference it cannot resolve.
func unresolved(v string) bool {
	if v == "" || v == "None" || v == "null" {
		return true
	}
	for _, s := range []string{"${", "Fn::", "'Ref'", `"Ref"`, "map["} {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// clients are the SDK clients of the services the rehearsal talks to, all
// pointed at moto through AWS_ENDPOINT_URL.
type clients struct {
	cfn      *cloudformation.Client
	s3       *s3.Client
	lambda   *lambda.Client
	sqs      *sqs.Client
	dynamodb *dynamodb.Client
	kms      *kms.Client
	iam      *iam.Client
	motoLog  string
}

func newClients(t *testing.T, motoLog string) *clients {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &clients{
		cfn: cloudformation.NewFromConfig(cfg),
		// moto serves buckets by path, not as <bucket>.127.0.0.1.
		s3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		lambda:   lambda.NewFromConfig(cfg),
		sqs:      sqs.NewFromConfig(cfg),
		dynamodb: dynamodb.NewFromConfig(cfg),
		kms:      kms.NewFromConfig(cfg),
		iam:      iam.NewFromConfig(cfg),
		motoLog:  motoLog,
	}
}

// motoLogTail returns the last lines of moto's log (its tracebacks explain
// an HTTP 500).
func (c *clients) motoLogTail() string {
	b, err := os.ReadFile(c.motoLog)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
