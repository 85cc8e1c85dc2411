package stack_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/policies"

	"github.com/acmecheckout/reports/internal/etl"
)

var (
	ref    = cloudformation.Ref
	getAtt = cloudformation.GetAtt
	sub    = func(s string) string { return cloudformation.Sub(s) }
)

func TestGoformationLacksSAMProperties(t *testing.T) {
	// If this fails, goformation learnt SAM's LoggingConfig: drop the lifting in mustLoad.
	_, err := goformation.OpenWithOptions(templatePath, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "LoggingConfig"`) {
		t.Fatalf("goformation.OpenWithOptions = %v, want the unknown field LoggingConfig error", err)
	}
}

func TestGlobals(t *testing.T) {
	s := mustLoad(t, map[string]any{"LogLevel": "DEBUG"})
	if tr := s.tpl.Transform; tr == nil || tr.String == nil || *tr.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %s, want AWS::Serverless-2016-10-31", show(tr))
	}
	g, err := s.tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatal(err)
	}
	if g.Runtime == nil || *g.Runtime != "provided.al2023" {
		t.Errorf("Runtime = %s, want provided.al2023", show(g.Runtime))
	}
	if g.Architectures == nil || !slices.Equal(*g.Architectures, []string{"arm64"}) {
		t.Errorf("Architectures = %s, want [arm64]", show(g.Architectures))
	}
	if g.Handler == nil || *g.Handler != "bootstrap" {
		t.Errorf("Handler = %s, want bootstrap", show(g.Handler))
	}
	lc := s.logging["Globals"]
	if lc == nil || lc.LogFormat == nil || *lc.LogFormat != "JSON" {
		t.Fatalf("Globals LoggingConfig = %s, want LogFormat JSON", show(lc))
	}
	if lc.ApplicationLogLevel == nil || *lc.ApplicationLogLevel != "DEBUG" {
		t.Errorf("ApplicationLogLevel = %s, want the LogLevel parameter (DEBUG)", show(lc.ApplicationLogLevel))
	}
}

func TestFunctions(t *testing.T) {
	s := mustLoad(t, map[string]any{"LogRetentionDays": 14})
	makefile := repoFile(t, "Makefile")
	const lambdaBuild = `LAMBDA_BUILD := CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"`
	if !strings.Contains(makefile, lambdaBuild) {
		t.Errorf("Makefile lacks %s", show(lambdaBuild))
	}
	cases := []struct {
		id, logGroup, role, cmd string
		timeout, memory         int
	}{
		{"AggregatorFunction", "AggregatorLogGroup", "AggregatorRole", "./cmd/aggregator", 30, 256},
		{"EtlFunction", "EtlLogGroup", "EtlRole", "./cmd/etl", 300, 256},
		{"ApiFunction", "ApiLogGroup", "ApiRole", "./cmd/api", 10, 512},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.id), func(t *testing.T) {
			fn := s.mustFunction(t, tc.id)
			if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %s, want makefile", show(got))
			}
			target := fmt.Sprintf("build-%s:\n\t$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap %s\n", tc.id, tc.cmd)
			if !strings.Contains(makefile, target) {
				t.Errorf("Makefile lacks the target\n%s", show(target))
			}
			if fn.CodeUri == nil || fn.CodeUri.String == nil || *fn.CodeUri.String != "." {
				t.Errorf("CodeUri = %s, want . (the Makefile's directory)", show(fn.CodeUri))
			}
			if fn.Runtime != nil || fn.Handler != nil || fn.Architectures != nil {
				t.Errorf("runtime, handler and architectures belong in Globals")
			}
			if fn.Role == nil || *fn.Role != getAtt(tc.role, "Arn") {
				t.Errorf("Role = %s, want %s.Arn", show(fn.Role), show(tc.role))
			}
			if fn.Timeout == nil || *fn.Timeout != tc.timeout {
				t.Errorf("Timeout = %s, want %s", show(fn.Timeout), show(tc.timeout))
			}
			if fn.MemorySize == nil || *fn.MemorySize != tc.memory {
				t.Errorf("MemorySize = %s, want %s", show(fn.MemorySize), show(tc.memory))
			}
			if fn.FunctionName == nil {
				t.Fatal("no FunctionName")
			}
			name := mustSub(t, *fn.FunctionName)

			lc := s.logging[tc.id]
			if lc == nil || lc.LogGroup == nil || *lc.LogGroup != ref(tc.logGroup) {
				t.Errorf("LoggingConfig = %s, want LogGroup !Ref %s", show(lc), show(tc.logGroup))
			}
			lg, err := s.tpl.GetLogsLogGroupWithName(tc.logGroup)
			if err != nil {
				t.Fatal(err)
			}
			if lg.LogGroupName == nil || mustSub(t, *lg.LogGroupName) != "/aws/lambda/"+name {
				t.Errorf("LogGroupName = %s, want /aws/lambda/%s", show(lg.LogGroupName), show(name))
			}
			if lg.RetentionInDays == nil || *lg.RetentionInDays != 14 {
				t.Errorf("RetentionInDays = %s, want the LogRetentionDays parameter (14)", show(lg.RetentionInDays))
			}
		})
	}
}

func TestQueues(t *testing.T) {
	s := mustLoad(t, map[string]any{"MaxReceiveCount": 7})
	q := mustQueue(t, s, "PurchasesQueue")
	dlq := mustQueue(t, s, "DeadLetterQueue")
	for name, queue := range map[string]*sqsQueue{"PurchasesQueue": q, "DeadLetterQueue": dlq} {
		if queue.SqsManagedSseEnabled == nil || !*queue.SqsManagedSseEnabled {
			t.Errorf("%s: SqsManagedSseEnabled is not true", show(name))
		}
	}

	// SQS's rule for a Lambda source: at least 6 x the function timeout plus the batching window.
	timeout := *s.mustFunction(t, "AggregatorFunction").Timeout
	maxWindow := s.tpl.Parameters["MaximumBatchingWindowInSeconds"].MaxValue
	if maxWindow == nil {
		t.Fatal("MaximumBatchingWindowInSeconds has no MaxValue")
	}
	if want := 6*timeout + int(*maxWindow); q.VisibilityTimeout == nil || *q.VisibilityTimeout < want {
		t.Errorf("VisibilityTimeout = %s, want >= 6 x %s + %s = %s", show(q.VisibilityTimeout), show(timeout), show(*maxWindow), show(want))
	}

	redrive, _ := q.RedrivePolicy.(map[string]any)
	if redrive["deadLetterTargetArn"] != getAtt("DeadLetterQueue", "Arn") {
		t.Errorf("deadLetterTargetArn = %s, want DeadLetterQueue.Arn", show(redrive["deadLetterTargetArn"]))
	}
	if redrive["maxReceiveCount"] != 7.0 {
		t.Errorf("maxReceiveCount = %s, want the MaxReceiveCount parameter (7)", show(redrive["maxReceiveCount"]))
	}
	if dlq.MessageRetentionPeriod == nil || *dlq.MessageRetentionPeriod != 14*24*3600 {
		t.Errorf("DLQ MessageRetentionPeriod = %s, want 14 days", show(dlq.MessageRetentionPeriod))
	}
	// A moved message keeps its age, so the DLQ must keep messages longer.
	if q.MessageRetentionPeriod == nil || *q.MessageRetentionPeriod >= *dlq.MessageRetentionPeriod {
		t.Errorf("queue retention %s, want below the DLQ's", show(q.MessageRetentionPeriod))
	}
}

func TestQueuesDenyInsecureTransport(t *testing.T) {
	s := mustLoad(t, nil)
	p, err := s.tpl.GetSQSQueuePolicyWithName("QueuesTlsOnlyPolicy")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ref("PurchasesQueue"), ref("DeadLetterQueue")}; !slices.Equal(p.Queues, want) {
		t.Errorf("Queues = %s, want both queues", show(p.Queues))
	}
	stmts := statementsIn(p.PolicyDocument)
	if len(stmts) != 1 {
		t.Fatalf("%s statements, want 1", show(len(stmts)))
	}
	st := stmts[0]
	if st["Effect"] != "Deny" || st["Principal"] != "*" {
		t.Errorf("Effect %s Principal %s, want Deny to *", show(st["Effect"]), show(st["Principal"]))
	}
	want := map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}
	if !reflect.DeepEqual(st["Condition"], want) {
		t.Errorf("Condition = %s, want %s", show(st["Condition"]), show(want))
	}
	if got := strs(st["Resource"]); !slices.Equal(got, []string{getAtt("PurchasesQueue", "Arn"), getAtt("DeadLetterQueue", "Arn")}) {
		t.Errorf("Resource = %s, want both queue ARNs", show(got))
	}
	actions := strs(st["Action"])
	for _, a := range []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes"} {
		if !slices.Contains(actions, a) {
			t.Errorf("insecure %s is not denied", show(a))
		}
	}
}

func TestAggregatorEvent(t *testing.T) {
	s := mustLoad(t, map[string]any{"BatchSize": 42, "MaximumBatchingWindowInSeconds": 9, "MaximumConcurrency": 7})
	fn := s.mustFunction(t, "AggregatorFunction")
	if got := sorted(fn.Events); !slices.Equal(got, []string{"Purchases"}) {
		t.Fatalf("events %s, want [Purchases]", show(got))
	}
	e := fn.Events["Purchases"]
	if e.Type != "SQS" || e.Properties.SQSEvent == nil {
		t.Fatalf("Purchases is %s, want an SQS event", show(e.Type))
	}
	sqs := e.Properties.SQSEvent
	if sqs.Queue != getAtt("PurchasesQueue", "Arn") {
		t.Errorf("Queue = %s, want PurchasesQueue.Arn", decoded(sqs.Queue))
	}
	if sqs.BatchSize == nil || *sqs.BatchSize != 42 {
		t.Errorf("BatchSize = %s, want the BatchSize parameter (42)", show(sqs.BatchSize))
	}
	x := s.sqsEvents["AggregatorFunction.Purchases"]
	if !slices.Equal(x.FunctionResponseTypes, []string{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %s, want [ReportBatchItemFailures]", show(x.FunctionResponseTypes))
	}
	if x.MaximumBatchingWindowInSeconds == nil || *x.MaximumBatchingWindowInSeconds != 9 {
		t.Errorf("MaximumBatchingWindowInSeconds = %s, want the parameter (9)", show(x.MaximumBatchingWindowInSeconds))
	}
	if x.ScalingConfig == nil || x.ScalingConfig.MaximumConcurrency == nil || *x.ScalingConfig.MaximumConcurrency != 7 {
		t.Errorf("ScalingConfig = %s, want MaximumConcurrency from the parameter (7)", show(x.ScalingConfig))
	}
}

func TestAggregatorEnvironmentAndPermissions(t *testing.T) {
	cases := []struct {
		exactlyOnce string
		env         map[string]string
		perms       map[string][]string
	}{
		{
			exactlyOnce: "true",
			env: map[string]string{
				"TABLE_NAME":             ref("DatapointsTable"),
				"IDEMPOTENCY_TABLE_NAME": ref("IdempotencyTable"),
				"DLQ_URL":                ref("DeadLetterQueue"),
			},
			perms: map[string][]string{
				"dynamodb:UpdateItem": {getAtt("DatapointsTable", "Arn")},
				"dynamodb:PutItem":    {getAtt("IdempotencyTable", "Arn")},
				// Folding the parts of hot datapoints (SPEC §3).
				"dynamodb:BatchGetItem":  {getAtt("DatapointsTable", "Arn")},
				"dynamodb:DeleteItem":    {getAtt("DatapointsTable", "Arn")},
				"dynamodb:Scan":          {sub("${DatapointsTable.Arn}/index/byPart")},
				"sqs:SendMessage":        {getAtt("DeadLetterQueue", "Arn")},
				"sqs:ReceiveMessage":     {getAtt("PurchasesQueue", "Arn")},
				"sqs:DeleteMessage":      {getAtt("PurchasesQueue", "Arn")},
				"sqs:GetQueueAttributes": {getAtt("PurchasesQueue", "Arn")},
				"logs:CreateLogStream":   {getAtt("AggregatorLogGroup", "Arn")},
				"logs:PutLogEvents":      {getAtt("AggregatorLogGroup", "Arn")},
			},
		},
		{
			exactlyOnce: "false",
			env: map[string]string{
				"TABLE_NAME": ref("DatapointsTable"),
				"DLQ_URL":    ref("DeadLetterQueue"),
			},
			perms: map[string][]string{
				"dynamodb:UpdateItem":    {getAtt("DatapointsTable", "Arn")},
				"sqs:SendMessage":        {getAtt("DeadLetterQueue", "Arn")},
				"sqs:ReceiveMessage":     {getAtt("PurchasesQueue", "Arn")},
				"sqs:DeleteMessage":      {getAtt("PurchasesQueue", "Arn")},
				"sqs:GetQueueAttributes": {getAtt("PurchasesQueue", "Arn")},
				"logs:CreateLogStream":   {getAtt("AggregatorLogGroup", "Arn")},
				"logs:PutLogEvents":      {getAtt("AggregatorLogGroup", "Arn")},
			},
		},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d ExactlyOnce=%s", i, tc.exactlyOnce), func(t *testing.T) {
			s := mustLoad(t, map[string]any{"ExactlyOnce": tc.exactlyOnce})
			fn := s.mustFunction(t, "AggregatorFunction")
			if fn.Environment == nil || !reflect.DeepEqual(fn.Environment.Variables, tc.env) {
				t.Errorf("environment %s, want %s", show(fn.Environment), show(tc.env))
			}
			assertPermissions(t, s, "AggregatorRole", tc.perms)

			table, err := s.tpl.GetDynamoDBTableWithName("IdempotencyTable")
			if err != nil {
				t.Fatal(err)
			}
			if table.AWSCloudFormationCondition != "UseExactlyOnce" || s.conditions["UseExactlyOnce"] != (tc.exactlyOnce == "true") {
				t.Errorf("IdempotencyTable condition %q = %v, want UseExactlyOnce = %s",
					table.AWSCloudFormationCondition, s.conditions["UseExactlyOnce"], tc.exactlyOnce)
			}
		})
	}
}

func TestTables(t *testing.T) {
	s := mustLoad(t, nil)
	t.Run("0 DatapointsTable", func(t *testing.T) {
		tb := mustTable(t, s, "DatapointsTable")
		assertKeys(t, tb.KeySchema, "datapoint", "")
		assertAttributes(t, tb.AttributeDefinitions, map[string]string{"datapoint": "S", "listKey": "S", "partOf": "S"})
		if len(tb.GlobalSecondaryIndexes) != 2 {
			t.Fatalf("%s GSIs, want 2", show(len(tb.GlobalSecondaryIndexes)))
		}
		for i, want := range []struct{ name, hash string }{{"byListKey", "listKey"}, {"byPart", "partOf"}} {
			gsi := tb.GlobalSecondaryIndexes[i]
			if gsi.IndexName != want.name {
				t.Errorf("GSI %s, want %s", show(gsi.IndexName), want.name)
			}
			assertKeys(t, gsi.KeySchema, want.hash, "datapoint")
			if gsi.Projection == nil || gsi.Projection.ProjectionType == nil || *gsi.Projection.ProjectionType != "KEYS_ONLY" {
				t.Errorf("GSI %s projection %s, want KEYS_ONLY", want.name, show(gsi.Projection))
			}
		}
		if tb.PointInTimeRecoverySpecification == nil || tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == nil ||
			!*tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled {
			t.Error("point-in-time recovery is off")
		}
		if tb.AWSCloudFormationDeletionPolicy != policies.DeletionPolicy("Retain") ||
			tb.AWSCloudFormationUpdateReplacePolicy != policies.UpdateReplacePolicy("Retain") {
			t.Errorf("DeletionPolicy %q UpdateReplacePolicy %q, want Retain both",
				tb.AWSCloudFormationDeletionPolicy, tb.AWSCloudFormationUpdateReplacePolicy)
		}
		assertOnDemandEncrypted(t, tb)
	})
	t.Run("1 IdempotencyTable", func(t *testing.T) {
		tb := mustTable(t, s, "IdempotencyTable")
		assertKeys(t, tb.KeySchema, "id", "")
		assertAttributes(t, tb.AttributeDefinitions, map[string]string{"id": "S"})
		ttl := tb.TimeToLiveSpecification
		if ttl == nil || !ttl.Enabled || ttl.AttributeName == nil || *ttl.AttributeName != "expiresAt" {
			t.Errorf("TimeToLiveSpecification %s, want enabled on expiresAt", show(ttl))
		}
		assertOnDemandEncrypted(t, tb)
	})
}

func TestSchedules(t *testing.T) {
	s := mustLoad(t, map[string]any{"ScheduleTimezone": "Europe/Berlin"})
	cases := []struct {
		event, expression string
		jobs              []string
	}{
		{"Equities", "cron(0 7 * * ? *)", []string{"equities"}},
		{"Currency", "cron(0 6 * * ? *)", []string{"currency"}},
		{"Economics", "cron(0 6 1/4 * ? *)", []string{"economics"}},
		{"InterestRates", "cron(0 6 1/4 * ? *)", []string{"interest_rates"}},
		{"RealEstate", "cron(0 6 1/15 * ? *)", []string{"real_estate"}},
	}
	if len(s.schedules) != len(cases) {
		t.Errorf("schedules %s, want %s", show(sorted(s.schedules)), show(len(cases)))
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.event), func(t *testing.T) {
			sc, ok := s.schedules["EtlFunction."+tc.event]
			if !ok {
				t.Fatalf("no ScheduleV2 event %s on EtlFunction", show(tc.event))
			}
			if sc.ScheduleExpression != tc.expression {
				t.Errorf("ScheduleExpression = %s, want %s", show(sc.ScheduleExpression), show(tc.expression))
			}
			if sc.ScheduleExpressionTimezone == nil || *sc.ScheduleExpressionTimezone != "Europe/Berlin" {
				t.Errorf("ScheduleExpressionTimezone = %s, want the ScheduleTimezone parameter", show(sc.ScheduleExpressionTimezone))
			}
			// Decoded as the ETL decodes its input: a misspelt field fails.
			var input etl.Input
			var err error
			if sc.Input != nil {
				input, err = etl.DecodeInput([]byte(*sc.Input))
			}
			if sc.Input == nil || err != nil || !slices.Equal(input.Jobs, tc.jobs) {
				t.Errorf("Input = %s (%v), want {\"jobs\": %s}", show(sc.Input), err, show(tc.jobs))
			}
			if sc.RoleArn == nil || *sc.RoleArn != getAtt("SchedulerRole", "Arn") {
				t.Errorf("RoleArn = %s, want SchedulerRole.Arn", show(sc.RoleArn))
			}
			if sc.OmitName == nil || !*sc.OmitName {
				t.Error("OmitName is not true: a fixed schedule name allows one stack per account")
			}
			// The jobs are idempotent: retry a failed delivery a few times, within the hour.
			rp := sc.RetryPolicy
			if rp == nil || rp.MaximumRetryAttempts == nil || *rp.MaximumRetryAttempts < 1 || *rp.MaximumRetryAttempts > 5 ||
				rp.MaximumEventAgeInSeconds == nil || *rp.MaximumEventAgeInSeconds > 3600 {
				t.Errorf("RetryPolicy %s, want 1-5 retries within an hour", show(rp))
			}
		})
	}
	assertPermissions(t, s, "SchedulerRole", map[string][]string{
		"lambda:InvokeFunction": {getAtt("EtlFunction", "Arn")},
	})
	fn := s.mustFunction(t, "EtlFunction")
	if c := fn.EventInvokeConfig; c == nil || c.MaximumRetryAttempts == nil || *c.MaximumRetryAttempts > 2 {
		t.Errorf("EventInvokeConfig %s, want at most 2 retries of a failed run", show(c))
	}
}

func TestEtlEnvironment(t *testing.T) {
	params := mustLoad(t, nil).tpl.Parameters
	if p := params["QuandlApiKeyCiphertext"]; p.NoEcho == nil || !*p.NoEcho || p.Default != nil {
		t.Errorf("parameter QuandlApiKeyCiphertext: NoEcho %s Default %s, want NoEcho and no default", show(p.NoEcho), show(p.Default))
	}
	// Optional when the lake replaces PostgreSQL; the rule DatabaseNeedsItsUrl requires it otherwise.
	if p := params["DatabaseUrlCiphertext"]; p.NoEcho == nil || !*p.NoEcho || p.Default != "" {
		t.Errorf("parameter DatabaseUrlCiphertext: NoEcho %s Default %s, want NoEcho and default empty", show(p.NoEcho), show(p.Default))
	}
	// Every catalog the build bundles fits EtlCatalog's pattern.
	files, err := filepath.Glob(filepath.Join("..", "..", "catalogs", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogs: %v", err)
	}
	pattern := regexp.MustCompile(*params["EtlCatalog"].AllowedPattern)
	for _, f := range append(files, "") {
		if name := strings.TrimPrefix(filepath.ToSlash(f), "../../"); !pattern.MatchString(name) {
			t.Errorf("EtlCatalog %q does not fit the pattern %s", name, pattern)
		}
	}
	// The FRED key is needed only by catalogs with FRED series.
	if p := params["FredApiKeyCiphertext"]; p.NoEcho == nil || !*p.NoEcho || p.Default != "" {
		t.Errorf("parameter FredApiKeyCiphertext: NoEcho %s Default %s, want NoEcho and an empty default", show(p.NoEcho), show(p.Default))
	}
	base := map[string]string{
		"QUANDL_API_KEY":     required["QuandlApiKeyCiphertext"].(string),
		"DATABASE_URL":       required["DatabaseUrlCiphertext"].(string),
		"QUANDL_BASE_URL":    "https://data.nasdaq.com/api/v3",
		"QUANDL_CONCURRENCY": "1",
	}
	withHealthcheck := maps.Clone(base)
	withHealthcheck["HEALTHCHECK_URL"] = "https://hc.example/ping/etl"
	withCatalog := maps.Clone(base)
	withCatalog["ETL_CATALOG"] = "catalogs/maintained.json"
	withCatalog["FRED_API_KEY"] = "AQICAHhfredkeyciphertext=="
	both := maps.Clone(base)
	both["LAKE_URL"] = "s3://<LakeBucket>/lake"
	lakeOnly := maps.Clone(both)
	delete(lakeOnly, "DATABASE_URL")
	ownBucket := maps.Clone(lakeOnly)
	ownBucket["LAKE_URL"] = "s3://acme-markets/prod/lake"
	cases := []struct {
		name      string
		overrides map[string]any
		want      map[string]string
	}{
		{"defaults", nil, base},
		{"healthcheck", map[string]any{"HealthcheckUrl": "https://hc.example/ping/etl"}, withHealthcheck},
		{"catalog with FRED series", map[string]any{"EtlCatalog": "catalogs/maintained.json", "FredApiKeyCiphertext": "AQICAHhfredkeyciphertext=="}, withCatalog},
		{"PostgreSQL and the lake", map[string]any{"LakeEnabled": "true"}, both},
		{"the lake only", map[string]any{"LakeEnabled": "true", "DatabaseEnabled": "false", "DatabaseUrlCiphertext": ""}, lakeOnly},
		{"the lake in a bucket of ours", map[string]any{
			"LakeEnabled": "true", "DatabaseEnabled": "false", "LakeBucketName": "acme-markets", "LakePrefix": "prod/lake",
		}, ownBucket},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			fn := s.mustFunction(t, "EtlFunction")
			got := map[string]string{}
			if fn.Environment != nil {
				for k, v := range fn.Environment.Variables {
					got[k] = s.resolve(t, v)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("environment %s, want %s", show(got), show(tc.want))
			}
		})
	}
}

func TestEtlVpcAndPermissions(t *testing.T) {
	logs := map[string][]string{
		"logs:CreateLogStream": {getAtt("EtlLogGroup", "Arn")},
		"logs:PutLogEvents":    {getAtt("EtlLogGroup", "Arn")},
	}
	vpc := vpcPermissions()
	const keyArn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	cases := []struct {
		name      string
		overrides map[string]any
		subnets   []string
		groups    []string
		perms     []map[string][]string
	}{
		{"no VPC, own key", nil, nil, nil, []map[string][]string{logs}},
		{
			"VPC", map[string]any{"SubnetIds": "subnet-a,subnet-b", "SecurityGroupIds": "sg-1"},
			[]string{"subnet-a", "subnet-b"}, []string{"sg-1"}, []map[string][]string{logs, vpc},
		},
		{
			"existing key", map[string]any{"SecretsKeyArn": keyArn},
			nil, nil, []map[string][]string{logs, {"kms:Decrypt": {keyArn}}},
		},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			fn := s.mustFunction(t, "EtlFunction")
			if tc.subnets == nil {
				if fn.VpcConfig != nil {
					t.Errorf("VpcConfig %s, want none", show(fn.VpcConfig))
				}
			} else if fn.VpcConfig == nil || !slices.Equal(fn.VpcConfig.SubnetIds, tc.subnets) ||
				!slices.Equal(fn.VpcConfig.SecurityGroupIds, tc.groups) {
				t.Errorf("VpcConfig %s, want subnets %s groups %s", show(fn.VpcConfig), show(tc.subnets), show(tc.groups))
			}
			want := map[string][]string{}
			for _, p := range tc.perms {
				maps.Copy(want, p)
			}
			assertPermissions(t, s, "EtlRole", want)
			for _, st := range roleStatements(t, s, "EtlRole") {
				if slices.Contains(strs(st["Action"]), "kms:Decrypt") {
					assertEncryptionContext(t, s, st)
				}
			}
		})
	}
}

func TestSecretsKey(t *testing.T) {
	s := mustLoad(t, nil)
	key, err := s.tpl.GetKMSKeyWithName("SecretsKey")
	if err != nil {
		t.Fatal(err)
	}
	if key.AWSCloudFormationCondition != "CreateSecretsKey" || !s.conditions["CreateSecretsKey"] {
		t.Errorf("key condition %s, want CreateSecretsKey, true by default", show(key.AWSCloudFormationCondition))
	}
	if key.EnableKeyRotation == nil || !*key.EnableKeyRotation {
		t.Error("key rotation is off")
	}
	if mustLoad(t, map[string]any{"SecretsKeyArn": "arn:aws:kms:eu-west-1:1:key/x"}).conditions["CreateSecretsKey"] {
		t.Error("CreateSecretsKey is true with an existing key ARN")
	}

	// Who may read the secrets: kms:Decrypt, or anything that yields or passes on plaintext.
	readers := []string{"kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:GenerateDataKey", "kms:ImportKeyMaterial"}
	root := sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
	stmts := statementsIn(key.KeyPolicy)
	var decrypters []string
	for i, st := range stmts {
		if st["Effect"] != "Allow" {
			continue
		}
		principal, _ := st["Principal"].(map[string]any)
		who := strs(principal["AWS"])
		for _, a := range strs(st["Action"]) {
			if !slices.Contains(readers, a) {
				continue
			}
			if a != "kms:Decrypt" || !slices.Equal(who, []string{getAtt("EtlRole", "Arn")}) {
				t.Errorf("statement %s grants %s to %s", show(i), show(a), show(who))
			}
			decrypters = append(decrypters, who...)
			assertEncryptionContext(t, s, st)
		}
		if slices.Equal(who, []string{root}) && !slices.Contains(strs(st["Action"]), "kms:PutKeyPolicy") {
			t.Errorf("the account root cannot administer the key")
		}
	}
	if !slices.Equal(decrypters, []string{getAtt("EtlRole", "Arn")}) {
		t.Errorf("decrypt granted to %s, want the ETL role only", show(decrypters))
	}
	if key.AWSCloudFormationDeletionPolicy != policies.DeletionPolicy("Retain") {
		t.Errorf("key DeletionPolicy %s, want Retain: the ciphertext parameters need it", show(key.AWSCloudFormationDeletionPolicy))
	}
}

func TestReaderRole(t *testing.T) {
	const principal = "arn:aws:iam::123456789012:role/reporting-ui"
	cases := []struct {
		name      string
		overrides map[string]any
		trusted   string
	}{
		{"default trusts the account", nil, sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
		{"given principal", map[string]any{"ReaderPrincipalArn": principal}, principal},
	}
	tableAndIndexes := []string{getAtt("DatapointsTable", "Arn"), sub("${DatapointsTable.Arn}/index/*")}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := mustLoad(t, tc.overrides)
			role, err := s.tpl.GetIAMRoleWithName("ReaderRole")
			if err != nil {
				t.Fatal(err)
			}
			trust := statementsIn(role.AssumeRolePolicyDocument)
			if len(trust) != 1 {
				t.Fatalf("%s trust statements, want 1", show(len(trust)))
			}
			p, _ := trust[0]["Principal"].(map[string]any)
			if got := strs(p["AWS"]); !slices.Equal(got, []string{tc.trusted}) || len(p) != 1 {
				t.Errorf("trusted %s, want %s", show(p), decoded(tc.trusted))
			}
			assertPermissions(t, s, "ReaderRole", map[string][]string{
				"dynamodb:GetItem":       tableAndIndexes,
				"dynamodb:BatchGetItem":  tableAndIndexes,
				"dynamodb:Query":         tableAndIndexes,
				"dynamodb:DescribeTable": tableAndIndexes,
				// The read API's function URL (AWS_IAM) needs both.
				"lambda:InvokeFunctionUrl": {getAtt("ApiFunction", "Arn")},
				"lambda:InvokeFunction":    {getAtt("ApiFunction", "Arn")},
			})
			if len(role.ManagedPolicyArns) != 0 {
				t.Errorf("managed policies %s, want none", show(role.ManagedPolicyArns))
			}
		})
	}
}

func TestNoWildcardActions(t *testing.T) {
	scenarios := []map[string]any{
		nil,
		{"SubnetIds": "subnet-a", "SecurityGroupIds": "sg-1", "SecretsKeyArn": "arn:aws:kms:eu-west-1:1:key/x", "ExactlyOnce": "false",
			"ApiDatabaseUrlCiphertext": "AQICAHhx", "ApiAllowOrigins": "https://reports.example.com"},
		{"LakeEnabled": "true"},
	}
	for i, overrides := range scenarios {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := mustLoad(t, overrides)
			stmts := statementsIn(s.doc)
			if len(stmts) < 10 {
				t.Fatalf("found %s policy statements; the walk is broken", show(len(stmts)))
			}
			for _, st := range stmts {
				if st["Effect"] == "Deny" {
					continue // a wildcard denies more, never grants more
				}
				if _, ok := st["NotAction"]; ok {
					t.Errorf("NotAction in %s", show(st))
				}
				actions := strs(st["Action"])
				if len(actions) == 0 {
					t.Errorf("statement without actions: %s", show(st))
				}
				for _, a := range actions {
					if strings.ContainsAny(a, "*?") {
						t.Errorf("wildcard action %s", show(a))
					}
				}
			}
			// Only roles written here: no managed policies, whose actions the walk cannot see.
			for id, role := range s.tpl.GetAllIAMRoleResources() {
				if len(role.ManagedPolicyArns) > 0 {
					t.Errorf("%s has managed policies %s", show(id), show(role.ManagedPolicyArns))
				}
			}
		})
	}
}

func TestAlarms(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:123456789012:oncall"
	cases := []struct {
		id, namespace, metric, dimension, value, statistic string
		threshold                                          float64
	}{
		{"DeadLetterQueueNotEmptyAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", getAtt("DeadLetterQueue", "QueueName"), "Maximum", 0},
		{"PurchasesQueueAgeAlarm", "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", getAtt("PurchasesQueue", "QueueName"), "Maximum", 600},
		{"AggregatorErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", ref("AggregatorFunction"), "Sum", 0},
		{"AggregatorThrottlesAlarm", "AWS/Lambda", "Throttles", "FunctionName", ref("AggregatorFunction"), "Sum", 0},
		{"EtlErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", ref("EtlFunction"), "Sum", 0},
		{"EtlThrottlesAlarm", "AWS/Lambda", "Throttles", "FunctionName", ref("EtlFunction"), "Sum", 0},
		{"ApiErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", ref("ApiFunction"), "Sum", 0},
		{"ApiServerErrorsAlarm", "AWS/Lambda", "Url5xxCount", "FunctionName", ref("ApiFunction"), "Sum", 0},
		{"TransactionConflictsAlarm", "CheckoutReports", "ConflictRetries", "FunctionName", ref("AggregatorFunction"), "Sum", 100},
	}
	withTopic := mustLoad(t, map[string]any{"AlarmTopicArn": topic, "OldestMessageAgeAlarmSeconds": 600})
	withoutTopic := mustLoad(t, map[string]any{"OldestMessageAgeAlarmSeconds": 600})
	singleMetric := 0 // TestEtlSeriesAlarms checks the metric math ones
	for _, a := range withTopic.tpl.GetAllCloudWatchAlarmResources() {
		if a.MetricName != nil {
			singleMetric++
		}
	}
	if singleMetric != len(cases) {
		t.Errorf("%s single-metric alarms, want %s", show(singleMetric), show(len(cases)))
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.id), func(t *testing.T) {
			a, err := withTopic.tpl.GetCloudWatchAlarmWithName(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Namespace == nil || *a.Namespace != tc.namespace || a.MetricName == nil || *a.MetricName != tc.metric {
				t.Errorf("metric %s/%s, want %s/%s", show(a.Namespace), show(a.MetricName), show(tc.namespace), show(tc.metric))
			}
			if len(a.Dimensions) != 1 || a.Dimensions[0].Name != tc.dimension || a.Dimensions[0].Value != tc.value {
				t.Errorf("dimensions %s, want %s=%s", show(a.Dimensions), show(tc.dimension), decoded(tc.value))
			}
			if a.Statistic == nil || *a.Statistic != tc.statistic {
				t.Errorf("Statistic %s, want %s", show(a.Statistic), show(tc.statistic))
			}
			if a.Threshold == nil || *a.Threshold != tc.threshold || a.ComparisonOperator != "GreaterThanThreshold" {
				t.Errorf("%s %s, want GreaterThanThreshold %s", show(a.ComparisonOperator), show(a.Threshold), show(tc.threshold))
			}
			if a.TreatMissingData == nil || *a.TreatMissingData != "notBreaching" {
				t.Errorf("TreatMissingData %s, want notBreaching", show(a.TreatMissingData))
			}
			if !slices.Equal(a.AlarmActions, []string{topic}) || !slices.Equal(a.OKActions, []string{topic}) {
				t.Errorf("AlarmActions %s OKActions %s, want the AlarmTopicArn parameter", show(a.AlarmActions), show(a.OKActions))
			}
			b, err := withoutTopic.tpl.GetCloudWatchAlarmWithName(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.AlarmActions)+len(b.OKActions) != 0 {
				t.Errorf("without a topic: AlarmActions %s OKActions %s, want none", show(b.AlarmActions), show(b.OKActions))
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	const keyArn = "arn:aws:kms:eu-west-1:123456789012:key/x"
	s := mustLoad(t, nil)
	withKey := mustLoad(t, map[string]any{"SecretsKeyArn": keyArn})
	withLake := mustLoad(t, map[string]any{"LakeEnabled": "true"})
	cases := []struct {
		name, value, condition string
		s                      *stack
	}{
		{"PurchasesQueueUrl", ref("PurchasesQueue"), "", s},
		{"PurchasesQueueArn", getAtt("PurchasesQueue", "Arn"), "", s},
		{"DeadLetterQueueUrl", ref("DeadLetterQueue"), "", s},
		{"DatapointsTableName", ref("DatapointsTable"), "", s},
		{"IdempotencyTableName", ref("IdempotencyTable"), "UseExactlyOnce", s},
		{"ReaderRoleArn", getAtt("ReaderRole", "Arn"), "", s},
		{"AggregatorFunctionName", ref("AggregatorFunction"), "", s},
		{"EtlFunctionName", ref("EtlFunction"), "", s},
		{"ApiUrl", getAtt("ApiFunctionUrl", "FunctionUrl"), "", s},
		{"ApiFunctionName", ref("ApiFunction"), "", s},
		{"DashboardUrl", "https://<AWS::Region>.console.aws.amazon.com/cloudwatch/home?region=<AWS::Region>#dashboards/dashboard/<OperationsDashboard>", "", s},
		{"SecretsKeyArn", getAtt("SecretsKey", "Arn"), "", s},
		{"SecretsKeyArn", keyArn, "", withKey},
		{"LakeDatabaseName", ref("LakeDatabase"), "UseLake", withLake},
		{"LakeWorkGroupName", ref("LakeWorkGroup"), "UseLake", withLake},
		{"LakeAnalystPolicyArn", ref("LakeAnalystPolicy"), "UseLake", withLake},
		{"LakeUrl", "s3://<LakeBucket>/lake", "UseLake", withLake},
	}
	if n := len(s.tpl.Outputs); n != len(cases)-1 {
		t.Errorf("%s outputs, want %s", show(n), show(len(cases)-1))
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			o, ok := tc.s.tpl.Outputs[tc.name]
			if !ok {
				t.Fatalf("no output %s", show(tc.name))
			}
			if v, _ := o.Value.(string); v != tc.value && tc.s.resolve(t, v) != tc.value {
				t.Errorf("value %s, want %s", show(o.Value), decoded(tc.value))
			}
			if got := ptrString(o.Condition); got != tc.condition {
				t.Errorf("condition %s, want %s", show(got), show(tc.condition))
			}
			if o.Description == nil || *o.Description == "" {
				t.Error("no description")
			}
		})
	}
}

func TestDocsListEveryParameterAndOutput(t *testing.T) {
	s := mustLoad(t, nil)
	doc := repoFile(t, "docs/stack.md")
	var names []string
	names = append(names, sorted(s.tpl.Parameters)...)
	names = append(names, sorted(s.tpl.Outputs)...)
	for _, name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/stack.md does not list `%s`", show(name))
		}
	}
}

func TestSamconfig(t *testing.T) {
	cfg := repoFile(t, "samconfig.toml")
	for _, want := range []string{
		"[default.deploy.parameters]",
		`capabilities = "CAPABILITY_IAM"`,
		"resolve_s3 = true",
		"confirm_changeset = true",
		"[default.build.parameters]",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("samconfig.toml lacks %s", show(want))
		}
	}
}
