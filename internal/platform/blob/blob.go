// Package blob keeps small write-once objects (the audit trail's
// checkpoints) outside the database: in a local directory on the embedded
// default, in an S3 bucket in production (BLOB_URL=s3://bucket/prefix).
// Objects are never replaced: a second Put of a key fails with ErrExists,
// so a copy kept here cannot be quietly rewritten by the process that
// writes the database it vouches for.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// ErrExists is returned by Put when the key holds an object already.
var ErrExists = errors.New("blob: object exists")

// ErrNotFound is returned by Get when the key holds no object.
var ErrNotFound = errors.New("blob: no such object")

// Store holds objects by key. Keys are slash-separated paths of letters,
// digits, '-', '_' and '.'.
type Store interface {
	// Put stores data under key, durably, unless key holds an object
	// already (ErrExists).
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object under key (ErrNotFound when none).
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// String names the store (a directory or an s3:// URL, no secret).
	String() string
}

// Open returns the store rawURL names: "s3://bucket/prefix" for S3 (the
// client configured as NewS3Client does, with s3Endpoint as its endpoint
// override when not empty), or a directory path, optionally as a file: URL
// (the directory is created by the first Put).
func Open(ctx context.Context, rawURL, s3Endpoint string) (Store, error) {
	if rawURL == "" {
		return nil, errors.New("blob: empty store URL")
	}
	scheme, rest, hasScheme := strings.Cut(rawURL, "://")
	if !hasScheme {
		return OpenDir(rawURL)
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(rawURL)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return nil, fmt.Errorf("blob: %s is not a local file URL (file:///path)", display(rawURL))
		}
		return OpenDir(u.Path)
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		u, err := url.Parse(rawURL)
		if err != nil || bucket == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("blob: %s is not s3://bucket[/prefix] without user info, query or fragment (credentials come from the AWS configuration, not the URL)", display(rawURL))
		}
		client, err := NewS3Client(ctx, s3Endpoint)
		if err != nil {
			return nil, err
		}
		return NewS3(client, bucket, prefix), nil
	default:
		return nil, fmt.Errorf("blob: unknown scheme %q in %s (want a directory, file:// or s3://)", scheme, display(rawURL))
	}
}

// display names a store URL in errors by scheme, host and path only: user
// info and a query may hold credentials.
func display(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the store URL (unparsable)"
	}
	return fmt.Sprintf("%q", u.Scheme+"://"+u.Host+u.Path)
}

// checkKey refuses keys that could leave the store's root.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || path.Clean(key) != key || strings.Contains(key, "..") {
		return fmt.Errorf("blob: invalid key %q", key)
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./", c)) {
			return fmt.Errorf("blob: invalid key %q", key)
		}
	}
	return nil
}

// Dir is a Store in a local directory, one file per key.
type Dir struct{ root string }

// OpenDir returns the store in directory root. The directory is created
// by the first Put: reading a store that was never written (a verify
// before any checkpoint) leaves nothing behind.
func OpenDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob: empty directory name")
	}
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("blob: %s is not a directory", root)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) String() string { return d.root }

// Exists reports whether the directory exists: a store that was never
// written has none (see OpenDir), and neither has a mistyped one.
func (d *Dir) Exists() bool {
	fi, err := os.Stat(d.root)
	return err == nil && fi.IsDir()
}

// Put writes a temporary file, syncs it, and links it to its name, which
// fails when the name exists: an object appears whole or not at all, and
// never replaces another.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	name := filepath.Join(d.root, filepath.FromSlash(key))
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := os.Link(tmp.Name(), name); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	// The new name is durable once its directory is.
	if f, err := os.Open(dir); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("blob: put %s: sync directory: %w", key, err)
		}
	}
	return nil
}

// Get reads the object under key.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.root, filepath.FromSlash(key)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", key, err)
	}
	return b, nil
}

// List walks the directory for the keys under prefix, leaving out the
// temporary files of Puts in progress.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	if _, err := os.Stat(d.root); errors.Is(err, os.ErrNotExist) {
		return nil, nil // never written
	}
	err := filepath.WalkDir(d.root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list %s in %s: %w", prefix, d.root, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// S3API is the part of the S3 API the S3 store uses; *s3.Client
// implements it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 is a Store in an S3 bucket under a key prefix. For the write-once
// promise to hold against someone holding the writer's credentials too,
// the bucket has Object Lock (deploy/terraform): a replaced or deleted
// object's versions are kept.
type S3 struct {
	client S3API
	bucket string
	prefix string // "" or ending in "/"
}

// NewS3 returns the store of bucket under prefix.
func NewS3(client S3API, bucket, prefix string) *S3 {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Put writes the object with If-None-Match: *, which S3 refuses (412)
// when the key exists, even against a concurrent Put; a HEAD first gives
// S3-compatible services that ignore the condition the same answer
// outside a race.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	k := s.prefix + key
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)}); err == nil {
		return fmt.Errorf("%w: %s%s", ErrExists, s, key)
	} else if !isNotFound(err) {
		return fmt.Errorf("blob: put %s%s: %w", s, key, err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(k),
		Body:        bytes.NewReader(data),
		IfNoneMatch: aws.String("*"),
		ContentType: aws.String("application/json"),
	})
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return fmt.Errorf("%w: %s%s", ErrExists, s, key)
	}
	if err != nil {
		return fmt.Errorf("blob: put %s%s: %w", s, key, err)
	}
	return nil
}

// Get reads the object under key.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: %s%s", ErrNotFound, s, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s%s: %w", s, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("blob: get %s%s: %w", s, key, err)
	}
	return b, nil
}

// List pages through the keys under prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	var token *string
	for {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix), ContinuationToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: list %s%s: %w", s, prefix, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		token = out.NextContinuationToken
	}
	sort.Strings(keys)
	return keys, nil
}

// isNotFound reports S3's answers for a missing key (GetObject's
// NoSuchKey, HeadObject's bare 404 NotFound).
func isNotFound(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// NewS3Client returns an S3 client configured the standard AWS way
// (config.LoadDefaultConfig: environment, shared files, container or
// instance role) plus optFns. endpoint, when not empty, overrides the
// endpoint, as AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL do; with any override
// the client uses path-style addressing, which S3-compatible services need.
// Without a configured region it uses us-east-1.
func NewS3Client(ctx context.Context, endpoint string, optFns ...func(*config.LoadOptions) error) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	}), nil
}
