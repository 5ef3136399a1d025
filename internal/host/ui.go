package host

import (
	"net/http"

	"github.com/kubestellar/ksplugins/internal/extension"
)

// ServeUI serves the file at path (inside its ui/ folder, without a
// leading "/") of plugin id's running instance: the route
// extension.Prefix+":id/*path" comes here. Only a serving (active or
// degraded) plugin's files
// are served, and always the instance's own, so a reload changes them with
// the code. Nothing of the caller's is read: the files are the same for
// everyone, like the manager page's own.
func (h *Host) ServeUI(w http.ResponseWriter, r *http.Request, id, path string) {
	p := h.lookup(id)
	if p == nil || !serving(p.getState()) {
		extension.NotFound(w, r)
		return
	}
	in := p.acquire()
	if in == nil {
		extension.NotFound(w, r)
		return
	}
	defer in.release()
	if in.ui == nil {
		extension.NotFound(w, r)
		return
	}
	in.ui.Serve(w, r, path)
}
