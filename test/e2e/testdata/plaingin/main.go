// Command plaingin is BenchmarkThroughput's baseline: a plain gin server,
// in release mode as the host runs, answering GET /hello with the hello
// example's handler and nothing else.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)
	// gin.New with Recovery, as a production server would have; no access
	// log, which the host does not write per request either.
	e := gin.New()
	e.Use(gin.Recovery())
	e.GET("/hello", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"})
	})
	log.Fatal(http.ListenAndServe(*addr, e))
}
