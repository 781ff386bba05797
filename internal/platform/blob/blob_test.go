package blob_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/medplatform/medplatform/internal/platform/blob"
)

// s3Fake is gofakes3 in process, recording the If-None-Match header of
// each PUT; refusePut, when set, answers PUTs with S3's 412 as a real
// bucket does for a key written meanwhile.
type s3Fake struct {
	url string

	mu          sync.Mutex
	ifNoneMatch []string
	refusePut   bool
}

func newS3(t *testing.T, bucket string) (*s3Fake, *blob.S3) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	f := &s3Fake{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			f.mu.Lock()
			f.ifNoneMatch = append(f.ifNoneMatch, r.Header.Get("If-None-Match"))
			refuse := f.refusePut
			f.mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusPreconditionFailed)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`)
				return
			}
		}
		fake.ServeHTTP(w, r)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	f.url = ts.URL
	client, err := blob.NewS3Client(context.Background(), ts.URL,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return f, blob.NewS3(client, bucket, "prefix/")
}

// eachStore runs fn on a directory store and on an S3 store.
func eachStore(t *testing.T, fn func(t *testing.T, s blob.Store)) {
	t.Run("dir", func(t *testing.T) {
		d, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		fn(t, d)
	})
	t.Run("s3", func(t *testing.T) {
		_, s := newS3(t, "audit")
		fn(t, s)
	})
}

func TestPutGetList(t *testing.T) {
	eachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		for _, k := range []string{"a/checkpoints/2.json", "a/checkpoints/1.json", "b/x.json"} {
			if err := s.Put(ctx, k, []byte("data of "+k)); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		}
		got, err := s.Get(ctx, "a/checkpoints/1.json")
		if err != nil || string(got) != "data of a/checkpoints/1.json" {
			t.Fatalf("get = %q, %v", got, err)
		}
		keys, err := s.List(ctx, "a/")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a/checkpoints/1.json", "a/checkpoints/2.json"}; !slices.Equal(keys, want) {
			t.Fatalf("list = %v, want %v", keys, want)
		}
		if _, err := s.Get(ctx, "a/none.json"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("get of a missing key: %v, want ErrNotFound", err)
		}
	})
}

// TestPutNeverReplaces: an object, once written, stays as written.
func TestPutNeverReplaces(t *testing.T) {
	eachStore(t, func(t *testing.T, s blob.Store) {
		ctx := context.Background()
		if err := s.Put(ctx, "k.json", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "k.json", []byte("second")); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("second put: %v, want ErrExists", err)
		}
		if got, err := s.Get(ctx, "k.json"); err != nil || string(got) != "first" {
			t.Fatalf("get = %q, %v, want the first object", got, err)
		}
	})
}

func TestInvalidKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s blob.Store) {
		for _, k := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a b", "a?b"} {
			if err := s.Put(context.Background(), k, []byte("x")); err == nil || errors.Is(err, blob.ErrExists) {
				t.Errorf("put %q: %v, want an invalid key error", k, err)
			}
		}
	})
}

// TestDirConcurrentPuts: of racing Puts of one key, exactly one wins and
// the object is that one's, whole.
func TestDirConcurrentPuts(t *testing.T) {
	d, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := []string{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := strings.Repeat(string(rune('a'+i)), 4096)
			err := d.Put(context.Background(), "race.json", []byte(data))
			if err == nil {
				mu.Lock()
				won = append(won, data)
				mu.Unlock()
			} else if !errors.Is(err, blob.ErrExists) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d puts succeeded, want 1", len(won))
	}
	got, err := d.Get(context.Background(), "race.json")
	if err != nil || string(got) != won[0] {
		t.Fatalf("the object is not the winner's: %d bytes, %v", len(got), err)
	}
	keys, err := d.List(context.Background(), "")
	if err != nil || !slices.Equal(keys, []string{"race.json"}) {
		t.Fatalf("list = %v, %v: temporary files left behind", keys, err)
	}
}

// TestS3PutIsConditional: every PUT asks S3 not to replace an object
// (If-None-Match: *), and S3's refusal (a Put that lost a race after the
// HEAD) is ErrExists.
func TestS3PutIsConditional(t *testing.T) {
	f, s := newS3(t, "audit")
	ctx := context.Background()
	if err := s.Put(ctx, "one.json", []byte("1")); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if !slices.Equal(f.ifNoneMatch, []string{"*"}) {
		t.Errorf("PUT If-None-Match headers = %q, want [*]", f.ifNoneMatch)
	}
	f.refusePut = true
	f.mu.Unlock()
	if err := s.Put(ctx, "two.json", []byte("2")); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("put refused with 412: %v, want ErrExists", err)
	}
}

// TestDirReadCreatesNothing: listing a store never written (a verify
// before the first checkpoint) finds nothing and creates no directory.
func TestDirReadCreatesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	d, err := blob.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := d.List(context.Background(), "audit/")
	if err != nil || len(keys) != 0 {
		t.Fatalf("list = %v, %v", keys, err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the store's directory exists after a read: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := blob.Open(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "x.json", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); err != nil {
		t.Fatalf("the directory store did not write under %s: %v", dir, err)
	}
	if s, err := blob.Open(ctx, "file://"+dir, ""); err != nil || s.String() != dir {
		t.Fatalf("file URL: %v, %v", s, err)
	}
	f, _ := newS3(t, "bucket")
	s, err = blob.Open(ctx, "s3://bucket/audit/prod", f.url)
	if err != nil || s.String() != "s3://bucket/audit/prod/" {
		t.Fatalf("s3 URL: %v, %v", s, err)
	}
	for _, bad := range []string{"", "s3://", "s3://key:secret@bucket/p", "s3://bucket/p?X-Amz-Signature=1", "gs://bucket/p", "file://host/x"} {
		if _, err := blob.Open(ctx, bad, ""); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error repeats the credentials: %v", bad, err)
		}
	}
}
