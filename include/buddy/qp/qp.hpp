// buddy::qp umbrella header: segments, queue pairs, fixed and record rings, the batch-record
// writer, process-local rings, backoff.
#pragma once

#include "buddy/qp/backoff.hpp"
#include "buddy/qp/batch_writer.hpp"
#include "buddy/qp/error.hpp"
#include "buddy/qp/fixed_ring.hpp"
#include "buddy/qp/local_ring.hpp"
#include "buddy/qp/record_ring.hpp"
#include "buddy/qp/segment.hpp"
