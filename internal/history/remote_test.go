package history

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRemoteKeepsSecretsOutOfErrors: a --prometheus-url with credentials
// in its user info, path or query names none of them in an error, whether
// the store refuses a query or cannot be reached.
func TestRemoteKeepsSecretsOutOfErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"error","errorType":"internal","error":"no"}`, http.StatusInternalServerError)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, raw := range []string{
		"http://user:s3cret@" + host,
		"http://" + host + "/tenants/s3cret?token=s3cret",
		"http://user:s3cret@127.0.0.1:1/prom?token=s3cret",
	} {
		r, err := NewRemote(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = r.Query(ctx, "up", time.Now())
		cancel()
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v", raw, err)
		}
	}
	if _, err := NewRemote("ftp://user:s3cret@x/y", nil); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a refused URL's error: %v", err)
	}
}
