package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MetadataSHA256 is the user metadata key (x-amz-meta-sha256) holding the
// hex SHA-256 of an object's content.
const MetadataSHA256 = "sha256"

// contentType is the media type of the objects (IANA, 2024).
const contentType = "application/vnd.apache.parquet"

// stored is an object as read: its content, ETag and content hash metadata.
type stored struct {
	body []byte
	etag string
	sum  string // the sha256 metadata, "" when absent
}

// contentSum returns the hex SHA-256 of body.
func contentSum(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// get reads an object; it returns nil and no error when there is none.
func (l *Lake) get(ctx context.Context, key string) (*stored, error) {
	out, err := l.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key)})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return nil, nil
		}
		return nil, fmt.Errorf("get %s: %w", key, describe(err, l.bucket, key))
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return &stored{body: body, etag: aws.ToString(out.ETag), sum: out.Metadata[MetadataSHA256]}, nil
}

// put writes an object only if it is still as read: with If-Match on etag,
// or, for etag "", If-None-Match: * (the object must not exist yet). A lost
// race is an error for which isConflict is true.
func (l *Lake) put(ctx context.Context, key string, body []byte, etag string) error {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(l.bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String(contentType),
		Metadata:    map[string]string{MetadataSHA256: contentSum(body)},
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	if _, err := l.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", key, describe(err, l.bucket, key))
	}
	return nil
}

// listed is one object of a listing.
type listed struct {
	key  string // relative to the prefix
	size int64
}

// list returns every object whose full key starts with prefix, in key order.
func (l *Lake) list(ctx context.Context, prefix string) ([]listed, error) {
	var out []listed
	p := s3.NewListObjectsV2Paginator(l.client, &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, describe(err, l.bucket, prefix))
		}
		for _, o := range page.Contents {
			out = append(out, listed{key: aws.ToString(o.Key)[len(l.prefix)+1:], size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// isConflict reports whether a conditional write lost to another writer:
// 412 Precondition Failed (the object changed or appeared), 409
// ConditionalRequestConflict (a concurrent conditional write), or 404
// NoSuchKey (If-Match on an object deleted since it was read).
func isConflict(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return true
		}
	}
	var missing *types.NoSuchKey
	var api smithy.APIError
	return errors.As(err, &missing) || errors.As(err, &api) && api.ErrorCode() == "NoSuchKey"
}

// describe adds what an operator needs to a few S3 errors: the bucket that
// does not exist, the key access was denied to.
func describe(err error, bucket, key string) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch api.ErrorCode() {
	case "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist: %w", bucket, err)
	case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("access to s3://%s/%s denied (credentials, or the role's permissions under the prefix): %w", bucket, key, err)
	}
	return err
}
