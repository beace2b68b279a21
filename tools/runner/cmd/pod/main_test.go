package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckIsHealthyOnlyWhenEveryURLAnswers2xx(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	assert.Equal(t, 0, check([]string{ok.URL}, io.Discard), "204")
	assert.Equal(t, 1, check([]string{ok.URL, failing.URL}, io.Discard), "one URL answers 500")
	assert.Equal(t, 1, check([]string{closed.URL}, io.Discard), "nothing listens")
	assert.Equal(t, 2, check(nil, io.Discard), "no URL")
}
