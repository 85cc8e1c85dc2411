package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/acmecheckout/reports/internal/backoff"
)

// tableWait bounds how long CreateTables waits for a table to become active.
const tableWait = 5 * time.Minute

// CreateTables creates the datapoints table (and the idempotency table when
// idempotency != "") as template.yaml defines them, waiting until active; for
// the demo and tests. Tables that already exist are left as they are. TTL on
// the idempotency table is enabled where the endpoint supports it (DynamoDB
// and DynamoDB Local do); minidyn, the demo's embedded store, does not, which
// is logged and tolerated.
func CreateTables(ctx context.Context, c *dynamodb.Client, datapoints, idempotency string) error {
	err := createTable(ctx, c, &dynamodb.CreateTableInput{
		TableName:   aws.String(datapoints),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrDatapoint), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrListKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrPartOf), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrDatapoint), KeyType: types.KeyTypeHash},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(IndexByList),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrListKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrDatapoint), KeyType: types.KeyTypeRange},
			},
			// Keys only: a count update never writes to the index.
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}, {
			// Sparse: only parts carry partOf, so a Scan of it lists the
			// pending parts and nothing else.
			IndexName: aws.String(IndexByPart),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrPartOf), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrDatapoint), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
	})
	if err != nil || idempotency == "" {
		return err
	}
	err = createTable(ctx, c, &dynamodb.CreateTableInput{
		TableName:   aws.String(idempotency),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrID), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrID), KeyType: types.KeyTypeHash},
		},
	})
	if err != nil {
		return err
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(idempotency),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	switch {
	case err == nil, alreadyEnabled(err):
		return nil
	case unsupported(err):
		slog.Default().WarnContext(ctx, "endpoint does not support TimeToLive; idempotency markers will not expire", "table", idempotency, "error", err)
		return nil
	}
	return fmt.Errorf("enable TTL on %s: %w", idempotency, err)
}

// createTable creates a table unless it exists and waits until it is active.
func createTable(ctx context.Context, c *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	name := aws.ToString(in.TableName)
	var inUse *types.ResourceInUseException
	if _, err := c.CreateTable(ctx, in); err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, tableWait)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err != nil {
			return fmt.Errorf("wait for table %s: %w", name, err)
		}
		if active(out.Table) {
			return nil
		}
		if err := backoff.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("wait for table %s to be active: %w", name, err)
		}
	}
}

// active reports whether a table and its indexes are active. The SDK's
// TableExistsWaiter is not used: it ignores indexes and waits forever on an
// emulator (minidyn) that reports no status, which counts as active here.
func active(t *types.TableDescription) bool {
	if t == nil || (t.TableStatus != "" && t.TableStatus != types.TableStatusActive) {
		return false
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if gsi.IndexStatus != "" && gsi.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// alreadyEnabled reports AWS's answer to enabling TTL twice.
func alreadyEnabled(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "already enabled")
}

// unsupported reports an endpoint (an emulator) that does not know the
// operation: UnknownOperationException, or, from minidyn, a plain-text 400
// the SDK cannot decode.
func unsupported(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "UnknownOperationException" {
		return true
	}
	var re *smithyhttp.ResponseError
	var de *smithy.DeserializationError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusBadRequest && errors.As(err, &de)
}
