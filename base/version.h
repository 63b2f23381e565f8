/* The Corral release every binary reports (corralctl version, corrald
 * --print-config and the writers of the etcd schema key). debian/changelog
 * carries the same version: hack/build-deb.sh refuses to build otherwise. */
#ifndef CR_VERSION_H
#define CR_VERSION_H

#define CORRAL_VERSION "0.2.0"

#endif
