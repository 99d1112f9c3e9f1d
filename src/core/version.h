/*
 * version — the one version string of drux, shown by `drux --version` and the
 * API's health route. A build may set it: make CPPFLAGS=-DDRUX_VERSION='"1.2.3"'.
 */
#ifndef DX_VERSION_H
#define DX_VERSION_H

#ifndef DRUX_VERSION
#define DRUX_VERSION "0.1.0-dev"
#endif

#endif
