/* streamrec status_page: the bytes of src/app/status_page.html, built into
 * the binary by cmake/embed_file.cmake (no file to install or find at run
 * time). The page is self-contained: inline CSS and script, no external
 * assets; endpoint.c serves it at GET /. */
#ifndef STREAMREC_APP_STATUS_PAGE_H
#define STREAMREC_APP_STATUS_PAGE_H

#include <stddef.h>

extern const unsigned char sr_status_page[]; /* NUL-terminated; the NUL is not in _len */
extern const size_t sr_status_page_len;

#endif
