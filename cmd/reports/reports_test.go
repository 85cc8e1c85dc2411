package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustCountedTable creates a datapoints table on DynamoDB Local, counts
// testdata/events.jsonl into it and returns its name.
func mustCountedTable(t *testing.T) string {
	t.Helper()
	testenv.DynamoDBLocal(t)
	table := testenv.UniqueName("datapoints")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := dynamodb.NewFromConfig(cfg)
	if err := dynamo.CreateTables(ctx, c, table, ""); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ds []purchase.Delivery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := purchase.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("events.jsonl line %d: %v", len(ds)+1, err)
		}
		ds = append(ds, purchase.Delivery{Identity: "m" + strconv.Itoa(len(ds)), Event: e})
	}
	res, err := dynamo.New(c, table).Add(ctx, ds)
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("count: %+v, %v", res, err)
	}
	return table
}

// TestRun runs the command against a table counted from
// testdata/events.jsonl; "datapoints" in a case stands for that table.
func TestRun(t *testing.T) {
	table := mustCountedTable(t)
	tests := []struct {
		name       string
		args       []string
		env        string // TABLE_NAME
		wantCode   int
		golden     string // testdata file holding the expected stdout
		wantStderr string
	}{
		{name: "get as the UI shows it", args: []string{"get", "2011-12-03:10|10-50"}, env: "datapoints", golden: "get.json"},
		{name: "get as table", args: []string{"--format", "table", "get", "1bb53ed1-787b-4543-9def-ea18eef7902e|SLICE_IT"}, env: "datapoints", golden: "get.table.txt"},
		{name: "list all-time report", args: []string{"list", "bracket-method", "--table", "datapoints"}, golden: "bracket-method.jsonl"},
		{name: "list daily report as csv", args: []string{"list", "hour-bracket", "--day", "2011-12-03", "--format=csv"}, env: "datapoints", golden: "hour-bracket.2011-12-03.csv"},
		{name: "list daily report as table", args: []string{"--format", "table", "list", "day-merchant", "--day", "2011-12-03"}, env: "datapoints", golden: "day-merchant.2011-12-03.table.txt"},
		{name: "list a day with no purchases", args: []string{"list", "hour-bracket-method", "--day", "2011-12-05"}, env: "datapoints", golden: "empty.jsonl"},
		{name: "get unknown datapoint", args: []string{"get", "2011-12-03:10|500+"}, env: "datapoints", wantCode: exitFailed, wantStderr: "datapoint not found"},
		{name: "daily report without day", args: []string{"list", "hour-bracket"}, env: "datapoints", wantCode: exitUsage, wantStderr: "--day: report hour-bracket is daily: it needs a day YYYY-MM-DD"},
		{name: "all-time report with day", args: []string{"list", "merchant-method", "--day", "2011-12-03"}, env: "datapoints", wantCode: exitUsage, wantStderr: "--day: report merchant-method counts all time: it takes no day"},
		{name: "bad day", args: []string{"list", "day-merchant", "--day", "03/12/2011"}, env: "datapoints", wantCode: exitUsage, wantStderr: `--day: day "03/12/2011" is not a date YYYY-MM-DD`},
		{name: "unknown report", args: []string{"list", "hourly"}, env: "datapoints", wantCode: exitUsage, wantStderr: `unknown report "hourly"`},
		{name: "unknown command", args: []string{"put", "x"}, env: "datapoints", wantCode: exitUsage, wantStderr: `unknown command "put"`},
		{name: "unknown format", args: []string{"--format", "xml", "get", "x"}, env: "datapoints", wantCode: exitUsage, wantStderr: "unknown format"},
		{name: "no table", args: []string{"get", "x"}, wantCode: exitUsage, wantStderr: "no table"},
		{name: "missing argument", args: []string{"get"}, env: "datapoints", wantCode: exitUsage, wantStderr: "want a command and one argument"},
		{name: "missing table", args: []string{"get", "x", "--table", "nope"}, wantCode: exitFailed, wantStderr: "get x"},
		{name: "help", args: []string{"-h"}, wantCode: exitOK, wantStderr: "usage:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			if i := slices.Index(args, "datapoints"); i >= 0 {
				args[i] = table
			}
			var stdout, stderr bytes.Buffer
			cli := CLI{
				Getenv: func(k string) string {
					if k == "TABLE_NAME" && tc.env == "datapoints" {
						return table
					}
					return ""
				},
				Stdout: &stdout,
				Stderr: &stderr,
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if code := cli.Run(ctx, args); code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
			if tc.golden == "" {
				if stdout.Len() > 0 {
					t.Errorf("unexpected stdout %q", stdout.String())
				}
				return
			}
			golden.Bytes(t, filepath.Join("testdata", tc.golden), stdout.Bytes())
		})
	}
}

// TestFold: `reports fold` is a no-op on a settled table; with a part
// pending (as an exactly-once writer leaves under contention) `get` already
// answers main + part, and `fold` moves the part into the main item.
func TestFold(t *testing.T) {
	table := mustCountedTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		cli := CLI{Getenv: func(string) string { return table }, Stdout: &stdout, Stderr: &stderr}
		return cli.Run(ctx, args), stdout.String(), stderr.String()
	}
	const dp, group = "2011-12-03:10|10-50", "hour-bracket|2011-12-03:10"
	if code, out, errOut := run("fold"); code != exitOK || out != `{"pending":0,"folded":0,"events":0,"left":0,"writeUnits":0}`+"\n" {
		t.Fatalf("fold of a settled table: %d %q %s", code, out, errOut)
	}
	_, before, _ := run("get", dp)

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := dynamodb.NewFromConfig(cfg)
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(table),
		Key:              map[string]types.AttributeValue{dynamo.AttrDatapoint: &types.AttributeValueMemberS{Value: dynamo.PartKey(group, 3)}},
		UpdateExpression: aws.String("ADD #e :n, #c :n SET #r = :r, #lk = :lk, #p = :p"),
		ExpressionAttributeNames: map[string]string{
			"#e": dynamo.AttrEvents, "#c": dp, "#r": dynamo.AttrReport, "#lk": dynamo.AttrListKey, "#p": dynamo.AttrPartOf,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": &types.AttributeValueMemberN{Value: "3"}, ":r": &types.AttributeValueMemberS{Value: "hour-bracket"},
			":lk": &types.AttributeValueMemberS{Value: "hour-bracket|2011-12-03"}, ":p": &types.AttributeValueMemberS{Value: group},
		},
	}); err != nil {
		t.Fatal(err)
	}
	var was purchase.Total
	if err := json.Unmarshal([]byte(before), &was); err != nil {
		t.Fatalf("get %s: %q: %v", dp, before, err)
	}
	want := fmt.Sprintf(`{"datapoint":%q,"events":%d}`+"\n", dp, was.Events+3)
	if _, got, _ := run("get", dp); got != want {
		t.Fatalf("get with a part pending: %q, want %q", got, want)
	}
	if _, got, _ := run("list", "hour-bracket", "--day", "2011-12-03"); !strings.Contains(got, want) {
		t.Fatalf("list with a part pending:\n%s\nwant a line %q", got, want)
	}
	if code, out, errOut := run("fold"); code != exitOK || !strings.HasPrefix(out, `{"pending":1,"folded":1,"events":3,"left":0,`) {
		t.Fatalf("fold: %d %q %s", code, out, errOut)
	}
	if _, got, _ := run("get", dp); got != want {
		t.Fatalf("get after fold: %q, want %q", got, want)
	}
	main, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{dynamo.AttrDatapoint: &types.AttributeValueMemberS{Value: dp}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := main.Item[dynamo.AttrEvents].(*types.AttributeValueMemberN).Value; n != strconv.FormatInt(was.Events+3, 10) {
		t.Errorf("main item after fold holds %s, want %d", n, was.Events+3)
	}
	if code, out, _ := run("fold"); code != exitOK || !strings.HasPrefix(out, `{"pending":0,`) {
		t.Errorf("second fold: %d %q, want a no-op", code, out)
	}
}
