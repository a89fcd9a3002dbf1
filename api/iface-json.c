/* placeholder */ typedef int placeholder_iface_json;
