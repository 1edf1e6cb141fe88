#include "bipeft/model/site.h"

#include <algorithm>

namespace bipeft::model {

const char* site_kind_name(SiteKind kind) {
  switch (kind) {
    case SiteKind::Linear: return "linear";
    case SiteKind::Norm: return "norm";
    case SiteKind::Sublayer: return "sublayer";
    case SiteKind::Attention: return "attention";
  }
  return "?";
}

void Site::add(std::shared_ptr<SiteHook> hook) {
  const int ord = hook->order();
  auto it = std::find_if(hooks_.begin(), hooks_.end(), [&](const auto& h) { return h->order() > ord; });
  hooks_.insert(it, std::move(hook));
}

void Site::remove(const SiteHook* hook) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const auto& h) { return h.get() == hook; }),
               hooks_.end());
}

}  // namespace bipeft::model
