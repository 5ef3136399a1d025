// A plugin built outside the host's builder against an older gin: the host
// must refuse it by name before Go's loader sees it.
package main

import "github.com/gin-gonic/gin"

func NewPlugin() interface{} { return gin.New() }
