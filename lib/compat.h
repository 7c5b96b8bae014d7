/* SPDX-License-Identifier: MIT */
/* Constants that liburing 2.3 (Debian 12) does not define yet. The values
 * are the kernel's ABI, so defining them here is safe; whether the running
 * kernel accepts them is probed at run time (reactor.c). */
#ifndef ZG_COMPAT_H
#define ZG_COMPAT_H

#include "zg_config.h"

#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

#endif
